package exchange

import "testing"

// TestDeliveryID: every copy of one delivery (the same subscription,
// consumer and accepted record) has the same id, whenever it is made;
// changing any one of them gives another id.
func TestDeliveryID(t *testing.T) {
	base := DeliveryID("pension-service-death", "pension-service", "civil-affairs", "rec-1", 1795861999621)
	if again := DeliveryID("pension-service-death", "pension-service", "civil-affairs", "rec-1", 1795861999621); again != base {
		t.Fatalf("the same delivery got ids %s and %s", base, again)
	}
	tests := []struct {
		name                               string
		subscription, consumer, issuer, id string
		at                                 int64
	}{
		{"another subscription", "pension-service-death-2", "pension-service", "civil-affairs", "rec-1", 1795861999621},
		{"another consumer", "pension-service-death", "social-insurance-service", "civil-affairs", "rec-1", 1795861999621},
		{"another issuer", "pension-service-death", "pension-service", "civil-affairs-2", "rec-1", 1795861999621},
		{"another record", "pension-service-death", "pension-service", "civil-affairs", "rec-2", 1795861999621},
		{"accepted at another time", "pension-service-death", "pension-service", "civil-affairs", "rec-1", 1795861999622},
		{"fields shifted across the separator", "pension-service-deathpension-service", "", "civil-affairs", "rec-1", 1795861999621},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := DeliveryID(tt.subscription, tt.consumer, tt.issuer, tt.id, tt.at); got == base {
				t.Errorf("id %s equals the base delivery's", got)
			}
		})
	}
}
