// Command image builds the OneVisit OCI image offline, from nothing but a
// static onevisit binary: no base image, no registry, no Docker daemon.
//
//	CGO_ENABLED=0 go build -trimpath -o onevisit ./cmd/onevisit
//	go run ./deploy/image --binary onevisit --tag onevisit:dev --out onevisit-image.tar
//	docker load -i onevisit-image.tar    # or: podman load -i onevisit-image.tar
//
// The image is one layer on an empty base (go-containerregistry's
// empty.Image):
//
//	/onevisit                          the binary, mode 0555, owned by root
//	/etc/passwd, /etc/group            the user nonroot, uid and gid 65532
//	/etc/ssl/certs/ca-certificates.crt the CA bundle of --ca-bundle (default: the build host's), if any
//	/tmp                               mode 1777
//	/var/lib/onevisit                  owned by 65532 (a volume mounts here)
//
// and its config runs as 65532:65532, with entrypoint /onevisit, command
// `serve --config /etc/onevisit/exchange.yaml`, port 8080/tcp exposed, and
// the OCI labels version and source. Every timestamp is --created
// (default: SOURCE_DATE_EPOCH, else the Unix epoch), so the same binary
// gives the same image digest. The output is the `docker save` tarball
// format, which docker load and podman load both read.
package main

import (
	"archive/tar"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// The image's fixed layout; the test and deploy/kubernetes rely on it.
const (
	BinaryPath = "/onevisit"
	UID        = 65532
	User       = "65532:65532"
	ConfigPath = "/etc/onevisit/exchange.yaml"
	DataDir    = "/var/lib/onevisit"
	Port       = "8080/tcp"
)

// Options say what goes into the image.
type Options struct {
	Binary   []byte // the static onevisit binary
	CABundle []byte // PEM CA certificates; nil leaves them out
	Version  string
	Arch     string // GOARCH of the binary
	Created  time.Time
}

// Build returns the image; it does no I/O.
func Build(o Options) (v1.Image, error) {
	if len(o.Binary) == 0 {
		return nil, errors.New("image: no binary")
	}
	layerTar, err := rootfs(o)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(layerTar)), nil })
	if err != nil {
		return nil, fmt.Errorf("image: layer: %w", err)
	}
	img, err := mutate.Append(empty.Image, mutate.Addendum{Layer: layer, History: v1.History{
		Created: v1.Time{Time: o.Created}, CreatedBy: "deploy/image: the onevisit binary, nonroot user, CA bundle", Comment: "onevisit " + o.Version,
	}})
	if err != nil {
		return nil, fmt.Errorf("image: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("image: %w", err)
	}
	cf = cf.DeepCopy()
	cf.Architecture, cf.OS, cf.Created = o.Arch, "linux", v1.Time{Time: o.Created}
	cf.Config = v1.Config{
		User:         User,
		Entrypoint:   []string{BinaryPath},
		Cmd:          []string{"serve", "--config", ConfigPath},
		WorkingDir:   DataDir,
		ExposedPorts: map[string]struct{}{Port: {}},
		Env:          []string{"PATH=/", "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"},
		Labels: map[string]string{
			"org.opencontainers.image.title":   "onevisit",
			"org.opencontainers.image.version": o.Version,
			"org.opencontainers.image.source":  "https://github.com/onevisit/onevisit",
		},
	}
	if len(o.CABundle) == 0 {
		cf.Config.Env = cf.Config.Env[:1]
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, fmt.Errorf("image: %w", err)
	}
	return img, nil
}

// rootfs is the layer: a tar of the files above, in a fixed order with
// fixed times and owners.
func rootfs(o Options) ([]byte, error) {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	id := strconv.Itoa(UID)
	entries := []struct {
		name     string
		mode     int64
		uid      int
		dir      bool
		contents []byte
	}{
		{"etc/", 0o755, 0, true, nil},
		{"etc/group", 0o644, 0, false, []byte("root:x:0:\nnonroot:x:" + id + ":\n")},
		{"etc/onevisit/", 0o755, 0, true, nil},
		{"etc/passwd", 0o644, 0, false, []byte("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:" + id + ":" + id + ":nonroot:/home/nonroot:/sbin/nologin\n")},
		{"etc/ssl/", 0o755, 0, true, nil},
		{"etc/ssl/certs/", 0o755, 0, true, nil},
		{"etc/ssl/certs/ca-certificates.crt", 0o444, 0, false, o.CABundle},
		{"home/", 0o755, 0, true, nil},
		{"home/nonroot/", 0o700, UID, true, nil},
		{"onevisit", 0o555, 0, false, o.Binary},
		{"tmp/", 0o1777, 0, true, nil},
		{"var/", 0o755, 0, true, nil},
		{"var/lib/", 0o755, 0, true, nil},
		{"var/lib/onevisit/", 0o700, UID, true, nil},
	}
	for _, e := range entries {
		if !e.dir && e.contents == nil {
			continue // no CA bundle
		}
		h := &tar.Header{Name: e.name, Mode: e.mode, Uid: e.uid, Gid: e.uid, ModTime: o.Created, Format: tar.FormatPAX}
		if e.dir {
			h.Typeflag = tar.TypeDir
		} else {
			h.Typeflag, h.Size = tar.TypeReg, int64(len(e.contents))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("image: %s: %w", e.name, err)
		}
		if _, err := tw.Write(e.contents); err != nil {
			return nil, fmt.Errorf("image: %s: %w", e.name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("image: %w", err)
	}
	return b.Bytes(), nil
}

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("image", flag.ContinueOnError)
	binary := fs.String("binary", "", "the static onevisit binary (CGO_ENABLED=0)")
	out := fs.String("out", "onevisit-image.tar", "where to write the docker-save tarball")
	tag := fs.String("tag", "onevisit:dev", "the image's name:tag in the tarball")
	version := fs.String("version", "dev", "the org.opencontainers.image.version label")
	arch := fs.String("arch", runtime.GOARCH, "GOARCH the binary was built for")
	ca := fs.String("ca-bundle", "/etc/ssl/certs/ca-certificates.crt", "PEM CA bundle to include (for Vault and brokers behind public CAs); empty: none")
	created := fs.String("created", os.Getenv("SOURCE_DATE_EPOCH"), "creation time, Unix seconds (default SOURCE_DATE_EPOCH, else 0)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *binary == "" {
		return errors.New("--binary is required")
	}
	bin, err := os.ReadFile(*binary)
	if err != nil {
		return err
	}
	var bundle []byte
	if *ca != "" {
		if bundle, err = os.ReadFile(*ca); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	secs := int64(0)
	if *created != "" {
		if secs, err = strconv.ParseInt(*created, 10, 64); err != nil {
			return fmt.Errorf("--created %q: want Unix seconds", *created)
		}
	}
	ref, err := name.NewTag(*tag)
	if err != nil {
		return fmt.Errorf("--tag: %w", err)
	}
	img, err := Build(Options{Binary: bin, CABundle: bundle, Version: *version, Arch: *arch, Created: time.Unix(secs, 0).UTC()})
	if err != nil {
		return err
	}
	if err := tarball.WriteToFile(*out, ref, img); err != nil {
		return err
	}
	d, err := img.Digest()
	if err != nil {
		return err
	}
	fmt.Printf("%s: %s %s\n", *out, ref, d)
	return nil
}
