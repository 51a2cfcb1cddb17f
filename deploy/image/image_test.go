package main

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

type file struct {
	mode     int64
	uid, gid int
	dir      bool
	contents string
}

// readBack reads a docker-save tarball with go-containerregistry, as
// docker load would: the image named tag, its config, and the files of
// its one layer.
func readBack(t *testing.T, path, tag string) (*v1.ConfigFile, map[string]file) {
	t.Helper()
	ref, err := name.NewTag(tag)
	if err != nil {
		t.Fatal(err)
	}
	img, err := tarball.ImageFromPath(path, &ref)
	if err != nil {
		t.Fatalf("read %s as %s: %v", path, tag, err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	if len(layers) != 1 {
		t.Fatalf("%d layers, want 1 (empty base + the binary's layer)", len(layers))
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	files := map[string]file{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		files[h.Name] = file{mode: h.Mode, uid: h.Uid, gid: h.Gid, dir: h.Typeflag == tar.TypeDir, contents: string(b)}
	}
	return cf, files
}

func TestImage(t *testing.T) {
	bin := []byte("\x7fELF not really a binary")
	ca := []byte("-----BEGIN CERTIFICATE-----\nnot really a CA\n-----END CERTIFICATE-----\n")
	created := time.Unix(1764000000, 0).UTC()
	tests := []struct {
		name      string
		ca        []byte
		wantEnv   []string
		wantCA    bool
		wantFiles int
	}{
		{"with a CA bundle", ca, []string{"PATH=/", "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"}, true, 14},
		{"without a CA bundle", nil, []string{"PATH=/"}, false, 13},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img, err := Build(Options{Binary: bin, CABundle: tt.ca, Version: "1.2.3", Arch: "amd64", Created: created})
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "onevisit.tar")
			ref, _ := name.NewTag("onevisit:test")
			if err := tarball.WriteToFile(path, ref, img); err != nil {
				t.Fatal(err)
			}
			cf, files := readBack(t, path, "onevisit:test")
			want := v1.Config{
				User: "65532:65532", Entrypoint: []string{"/onevisit"}, Cmd: []string{"serve", "--config", "/etc/onevisit/exchange.yaml"},
				WorkingDir: "/var/lib/onevisit", ExposedPorts: map[string]struct{}{"8080/tcp": {}}, Env: tt.wantEnv,
				Labels: map[string]string{"org.opencontainers.image.title": "onevisit", "org.opencontainers.image.version": "1.2.3", "org.opencontainers.image.source": "https://github.com/onevisit/onevisit"},
			}
			if !reflect.DeepEqual(cf.Config, want) {
				t.Errorf("config =\n%+v\nwant\n%+v", cf.Config, want)
			}
			if cf.OS != "linux" || cf.Architecture != "amd64" || !cf.Created.Time.Equal(created) {
				t.Errorf("platform %s/%s created %v, want linux/amd64 %v", cf.OS, cf.Architecture, cf.Created, created)
			}
			if got := files["onevisit"]; got != (file{mode: 0o555, contents: string(bin)}) {
				t.Errorf("/onevisit = %+v, want the binary, mode 0555, owned by root", got)
			}
			if got := files["etc/passwd"].contents; got != "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n" {
				t.Errorf("/etc/passwd = %q", got)
			}
			if got := files["var/lib/onevisit/"]; got != (file{mode: 0o700, uid: 65532, gid: 65532, dir: true}) {
				t.Errorf("/var/lib/onevisit = %+v, want a directory owned by 65532", got)
			}
			if got := files["tmp/"]; got != (file{mode: 0o1777, dir: true}) {
				t.Errorf("/tmp = %+v, want mode 1777", got)
			}
			if _, ok := files["etc/ssl/certs/ca-certificates.crt"]; ok != tt.wantCA {
				t.Errorf("CA bundle present %v, want %v", ok, tt.wantCA)
			}
			if len(files) != tt.wantFiles {
				t.Errorf("%d entries in the layer, want %d: %v", len(files), tt.wantFiles, files)
			}
			// docker load reads the tag from manifest.json.
			if tags := manifestTags(t, path); !reflect.DeepEqual(tags, []string{"onevisit:test"}) {
				t.Errorf("manifest.json RepoTags = %v, want [onevisit:test]", tags)
			}
		})
	}
}

func manifestTags(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err != nil {
			t.Fatalf("no manifest.json in %s: %v", path, err)
		}
		if h.Name != "manifest.json" {
			continue
		}
		var m []struct{ RepoTags []string }
		if err := json.NewDecoder(tr).Decode(&m); err != nil || len(m) != 1 {
			t.Fatalf("manifest.json: %v (%d entries)", err, len(m))
		}
		return m[0].RepoTags
	}
}

// TestImageReproducible: the same inputs give the same digest, and a
// different binary a different one.
func TestImageReproducible(t *testing.T) {
	o := Options{Binary: []byte("binary one"), Version: "v", Arch: "amd64", Created: time.Unix(0, 0).UTC()}
	digest := func(o Options) v1.Hash {
		img, err := Build(o)
		if err != nil {
			t.Fatal(err)
		}
		d, err := img.Digest()
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	a, b := digest(o), digest(o)
	o.Binary = []byte("binary two")
	c := digest(o)
	if a != b || a == c {
		t.Fatalf("digests %s, %s (same inputs) and %s (another binary): want the first two equal and the third different", a, b, c)
	}
	if _, err := Build(Options{}); err == nil {
		t.Fatal("Build with no binary: nil error")
	}
}

// TestBuiltImage checks the tarball .ci/run builds (ONEVISIT_IMAGE, tagged
// onevisit:ci): its /onevisit is a static Linux executable, with no
// program interpreter, so it runs on the empty base, and it runs.
func TestBuiltImage(t *testing.T) {
	path := os.Getenv("ONEVISIT_IMAGE")
	if path == "" {
		t.Skip("ONEVISIT_IMAGE not set: .ci/run builds the image and sets it")
	}
	cf, files := readBack(t, path, "onevisit:ci")
	if cf.Config.User != User || !reflect.DeepEqual(cf.Config.Entrypoint, []string{BinaryPath}) {
		t.Fatalf("user %q entrypoint %v", cf.Config.User, cf.Config.Entrypoint)
	}
	f, err := elf.NewFile(bytes.NewReader([]byte(files["onevisit"].contents)))
	if err != nil {
		t.Fatalf("/onevisit is not an ELF executable: %v", err)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Fatal("/onevisit has a program interpreter (dynamically linked): build it with CGO_ENABLED=0")
		}
	}
	exe := filepath.Join(t.TempDir(), "onevisit")
	if err := os.WriteFile(exe, []byte(files["onevisit"].contents), 0o700); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(exe, "help").CombinedOutput()
	if err != nil || !bytes.HasPrefix(out, []byte("onevisit — the OneVisit data-sharing exchange\n")) {
		t.Fatalf("/onevisit help: %v\n%s", err, out)
	}
}
