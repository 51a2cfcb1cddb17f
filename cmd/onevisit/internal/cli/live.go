package cli

import "github.com/onevisit/onevisit/policy"

// responders maps each publisher of a live grant to the datasets it
// answers live queries of: `kafka setup` and `kafka manifests` give it
// read on their request topics and write on their reply topics.
func responders(set *policy.Set) map[string][]string {
	out := map[string][]string{}
	for _, p := range set.Policies() {
		if p.Kind == policy.KindPublisherGrant && p.Mode == policy.ModeLive {
			out[p.Publisher] = append(out[p.Publisher], p.Datasets...)
		}
	}
	return out
}
