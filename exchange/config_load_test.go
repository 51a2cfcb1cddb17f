package exchange

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestLoadConfig loads config files and compares the whole result: every
// default filled from defaults.go, and a strict decoder that names the
// file, the line and the key of anything it does not know.
func TestLoadConfig(t *testing.T) {
	t.Setenv("ONEVISIT_KAFKA_PASSWORD", "")
	minimal := "node: n1\nclients: /etc/onevisit/registry.json\nkafka:\n  brokers: [127.0.0.1:9092]\nkeys:\n  dir: /var/lib/onevisit/keys\n"
	for _, tc := range []struct {
		name    string
		yaml    string
		want    Config
		wantErr []string // substrings of the error, in any order
	}{
		{
			name: "minimal file backend gets every default",
			yaml: minimal,
			want: Config{
				Node: "n1", HTTP: HTTPConfig{Addr: DefaultHTTPAddr, PublicURL: "http://" + DefaultHTTPAddr},
				Kafka:   KafkaConfig{Brokers: []string{"127.0.0.1:9092"}, PasswordEnv: DefaultKafkaPasswordEnv},
				Clients: "/etc/onevisit/registry.json",
				Keys: KeysConfig{Backend: "file", Dir: "/var/lib/onevisit/keys", TokenKey: "exchange-token", ReceiptKey: "exchange-receipt",
					AuditKey: "exchange-audit", PseudonymKey: "exchange-pseudonym", Refresh: 30 * time.Second},
			},
		},
		{
			name: "vault backend gets its grace, mount and token variable",
			yaml: "node: n1\nclients: r.json\nkafka: {brokers: ['k:9092']}\nkeys:\n  backend: vault\n  vault: {address: 'http://v:8200', auth: token}\n",
			want: Config{
				Node: "n1", HTTP: HTTPConfig{Addr: DefaultHTTPAddr, PublicURL: "http://" + DefaultHTTPAddr},
				Kafka: KafkaConfig{Brokers: []string{"k:9092"}, PasswordEnv: DefaultKafkaPasswordEnv}, Clients: "r.json",
				Keys: KeysConfig{Backend: "vault", Vault: VaultConfig{Address: "http://v:8200", Mount: "transit", Auth: "token", TokenEnv: "VAULT_TOKEN"},
					TokenKey: "exchange-token", ReceiptKey: "exchange-receipt", AuditKey: "exchange-audit", PseudonymKey: "exchange-pseudonym",
					Refresh: 30 * time.Second, Grace: 15 * time.Minute},
			},
		},
		{
			name:    "unknown top-level key",
			yaml:    minimal + "bogus: 1\n",
			wantErr: []string{"cfg.yaml", "line 7", "bogus"},
		},
		{
			name:    "unknown nested key",
			yaml:    "node: n1\nclients: r.json\nkafka:\n  brokers: ['k:9092']\n  pasword_env: X\nkeys: {dir: d}\n",
			wantErr: []string{"cfg.yaml", "line 5", "pasword_env"},
		},
		{
			name:    "audit.dir holding the view store",
			yaml:    minimal + "view: {dir: /var/lib/onevisit/state/view}\naudit: {dir: /var/lib/onevisit/state}\n",
			wantErr: []string{"cfg.yaml", "audit.dir", "view.dir"},
		},
		{
			name:    "audit.dir holding the file backend's keys",
			yaml:    minimal + "audit: {dir: /var/lib/onevisit}\n",
			wantErr: []string{"cfg.yaml", "audit.dir", "keys.dir"},
		},
		{
			name:    "audit.dir equal to the view store",
			yaml:    minimal + "view: {dir: /var/lib/onevisit/state}\naudit: {dir: /var/lib/onevisit/state/}\n",
			wantErr: []string{"cfg.yaml", "audit.dir", "view.dir"},
		},
		{
			name:    "view.dir holding the file backend's keys",
			yaml:    minimal + "view: {dir: /var/lib/onevisit}\n",
			wantErr: []string{"cfg.yaml", "view.dir", "keys.dir"},
		},
		{
			name: "audit.dir beside the view store",
			yaml: minimal + "view: {dir: /var/lib/onevisit/view}\naudit: {dir: /var/lib/onevisit/audit-log}\n",
			want: Config{
				Node: "n1", HTTP: HTTPConfig{Addr: DefaultHTTPAddr, PublicURL: "http://" + DefaultHTTPAddr},
				Kafka:   KafkaConfig{Brokers: []string{"127.0.0.1:9092"}, PasswordEnv: DefaultKafkaPasswordEnv},
				Clients: "/etc/onevisit/registry.json",
				Keys: KeysConfig{Backend: "file", Dir: "/var/lib/onevisit/keys", TokenKey: "exchange-token", ReceiptKey: "exchange-receipt",
					AuditKey: "exchange-audit", PseudonymKey: "exchange-pseudonym", Refresh: 30 * time.Second},
				View: ViewConfig{Dir: "/var/lib/onevisit/view"}, Audit: AuditConfig{Dir: "/var/lib/onevisit/audit-log"},
			},
		},
		{
			name:    "not YAML",
			yaml:    "node: [\n",
			wantErr: []string{"cfg.yaml", "line"},
		},
		{
			name:    "validation names the key",
			yaml:    "node: n1\nkafka: {brokers: ['k:9092']}\nkeys: {dir: d}\n",
			wantErr: []string{"cfg.yaml", "clients:"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "cfg.yaml")
			if err := os.WriteFile(path, []byte(tc.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := LoadConfig(path)
			if len(tc.wantErr) > 0 {
				if err == nil {
					t.Fatalf("LoadConfig = %+v, nil; want an error naming %q", got, tc.wantErr)
				}
				for _, s := range tc.wantErr {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("LoadConfig error %q does not name %q", err, s)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("LoadConfig: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("LoadConfig =\n%+v\nwant\n%+v", got, tc.want)
			}
		})
	}
}

// TestExampleConfigLoads keeps deploy/exchange.example.yaml a valid file.
func TestExampleConfigLoads(t *testing.T) {
	t.Setenv("ONEVISIT_KAFKA_PASSWORD", "not-a-real-password")
	c, err := LoadConfig(filepath.Join("..", "deploy", "exchange.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Node != "exchange-1" || c.Keys.Backend != "vault" || c.Keys.Grace != 15*time.Minute || c.Topics.MinInsyncReplicas != 2 {
		t.Errorf("example config loaded as %+v", c)
	}
}
