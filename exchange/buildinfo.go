package exchange

import (
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
)

// buildInfo is onevisit_build_info: always 1, labelled with the binary's
// module version ("devel" for a build from a work tree), its VCS revision
// ("unknown" when built without VCS stamping, as .ci/run builds) and the
// Go version. Operators join on it (for example to see which nodes still
// run an old build during a rollout).
func buildInfo() prometheus.Collector {
	version, revision, goversion := "devel", "unknown", "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		goversion = bi.GoVersion
		if v := bi.Main.Version; v != "" && v != "(devel)" {
			version = v
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && s.Value != "" {
				revision = s.Value
			}
		}
	}
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "onevisit_build_info",
		Help:        "Always 1; labels name the binary's version, VCS revision and Go version.",
		ConstLabels: prometheus.Labels{"version": version, "revision": revision, "goversion": goversion},
	})
	g.Set(1)
	return g
}
