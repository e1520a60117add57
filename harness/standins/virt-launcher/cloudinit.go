package main

// cloud-init, the guest's side of it: KubeVirt's cloudinit.GenerateLocalData writes the NoCloud
// meta-data and user-data and hands them to an "ISO creation function" (genisoimage in 0.4.1,
// whose cidata ISO a Fedora cloud image's cloud-init reads at boot). Here that function packs
// them into a tar archive at the same path (noCloud.iso), which the guest's root script unpacks
// into /var/lib/cloud/seed/nocloud/ (cloud-init's seed folder for NoCloud); and what the Fedora
// cloud image's cloud-init would do with the user data at first boot is worked out below, from
// the same data, as the guest's setup: the image's default user with its sudo rule, the
// cloud-config's ssh_authorized_keys, any `users:` entries, a user-data script.

import (
	"archive/tar"
	"bytes"
	"encoding/base64"
	"fmt"
	"io/ioutil"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"gopkg.in/yaml.v2"

	"kubevirt.io/kubevirt/pkg/api/v1"
	"kubevirt.io/kubevirt/pkg/log"
)

// seedArchive is the cloudinit.IsoCreationFunc: meta-data and user-data in a tar archive (fixed
// times, so that the same data gives the same file, as GenerateLocalData compares them).
func seedArchive(out string, inFiles []string) error {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range inFiles {
		data, err := ioutil.ReadFile(f)
		if err != nil {
			return err
		}
		hdr := &tar.Header{Name: filepath.Base(f), Mode: 0644, Size: int64(len(data)), ModTime: time.Unix(0, 0), Typeflag: tar.TypeReg}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if _, err := tw.Write(data); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return ioutil.WriteFile(out, buf.Bytes(), 0644)
}

// guestUser is one user cloud-init would create.
type guestUser struct {
	name   string
	gecos  string
	shell  string
	groups []string
	sudo   []string
	keys   []string
}

// guestSetup is what the guest's first boot gets from its user data.
type guestSetup struct {
	users []guestUser
	// a user-data script (`#!...`), run once as root when the guest is up, as cloud-init's
	// scripts-user does
	script []byte
	// what the user data asked for that the lab does not do (logged)
	ignored []string
}

var userNameRE = regexp.MustCompile(`^[a-z_][a-z0-9_-]{0,31}$`)

// The Fedora cloud image's default user (its /etc/cloud/cloud.cfg, system_info.default_user).
func fedoraDefaultUser(name string) guestUser {
	return guestUser{
		name:   name,
		gecos:  name + " Cloud User",
		shell:  "/bin/bash",
		groups: []string{"wheel", "adm", "systemd-journal"},
		sudo:   []string{"ALL=(ALL) NOPASSWD:ALL"},
	}
}

// userDataOf returns the VM's NoCloud user data, decoded as GenerateLocalData decodes it.
func userDataOf(source *v1.CloudInitNoCloudSource) ([]byte, error) {
	if source.UserData != "" {
		return []byte(source.UserData), nil
	}
	if source.UserDataBase64 != "" {
		return base64.StdEncoding.DecodeString(source.UserDataBase64)
	}
	return nil, fmt.Errorf("userDataBase64 or userData is required for no-cloud data source")
}

// parseUserData reads user data as cloud-init does: `#cloud-config` YAML, or a script (`#!`);
// anything else (MIME multipart, #include, ...) is not understood here, and said so.
func parseUserData(data []byte, defaultUser string) (*guestSetup, error) {
	setup := &guestSetup{}
	def := fedoraDefaultUser(defaultUser)
	text := string(data)
	switch {
	case len(data) == 0:
		setup.users = []guestUser{def}
		return setup, nil
	case strings.HasPrefix(text, "#!"):
		setup.users = []guestUser{def}
		setup.script = data
		return setup, nil
	case !strings.HasPrefix(text, "#cloud-config"):
		setup.users = []guestUser{def}
		first := strings.SplitN(text, "\n", 2)[0]
		setup.ignored = append(setup.ignored, fmt.Sprintf("user data of a kind the lab does not read (first line %q)", first))
		return setup, nil
	}
	cfg := map[string]interface{}{}
	if err := yaml.Unmarshal(data, &cfg); err != nil {
		return nil, fmt.Errorf("cloud-config: %v", err)
	}
	// cc_ssh: the top-level keys go to the default user.
	keys, err := stringList(cfg["ssh_authorized_keys"])
	if err != nil {
		return nil, fmt.Errorf("cloud-config: ssh_authorized_keys: %v", err)
	}
	def.keys = append(def.keys, keys...)
	// users: (cloud-init's normalize_users_groups): absent means [default].
	entries := []interface{}{"default"}
	if u, ok := cfg["users"]; ok {
		switch t := u.(type) {
		case []interface{}:
			entries = t
		case string:
			entries = nil
			for _, s := range strings.Split(t, ",") {
				entries = append(entries, strings.TrimSpace(s))
			}
		case nil:
			entries = nil
		default:
			return nil, fmt.Errorf("cloud-config: users: a list or a comma-separated string, not %T", u)
		}
	}
	for _, e := range entries {
		switch t := e.(type) {
		case string:
			if t == "default" {
				setup.users = append(setup.users, def)
			} else if t != "" {
				setup.users = append(setup.users, guestUser{name: t, shell: "/bin/bash"})
			}
		case map[interface{}]interface{}:
			u, err := userOf(t)
			if err != nil {
				return nil, err
			}
			setup.users = append(setup.users, u)
		default:
			return nil, fmt.Errorf("cloud-config: users: an entry of type %T", e)
		}
	}
	for _, u := range setup.users {
		if !userNameRE.MatchString(u.name) {
			return nil, fmt.Errorf("cloud-config: user name %q is not one useradd takes", u.name)
		}
	}
	for _, k := range []string{"ssh_pwauth", "disable_root", "password", "chpasswd", "runcmd", "bootcmd", "write_files", "packages", "hostname", "fqdn"} {
		if v, ok := cfg[k]; ok {
			setup.ignored = append(setup.ignored, fmt.Sprintf("%s: %v", k, v))
		}
	}
	return setup, nil
}

func userOf(m map[interface{}]interface{}) (guestUser, error) {
	u := guestUser{shell: "/bin/bash"}
	get := func(k string) interface{} {
		if v, ok := m[k]; ok {
			return v
		}
		return m[strings.Replace(k, "_", "-", -1)]
	}
	u.name, _ = get("name").(string)
	if u.name == "" {
		return u, fmt.Errorf("cloud-config: users: an entry without a name")
	}
	if s, ok := get("gecos").(string); ok {
		u.gecos = s
	}
	if s, ok := get("shell").(string); ok {
		u.shell = s
	}
	var err error
	if u.keys, err = stringList(get("ssh_authorized_keys")); err != nil {
		return u, fmt.Errorf("cloud-config: users: %s: ssh_authorized_keys: %v", u.name, err)
	}
	switch g := get("groups").(type) {
	case string:
		for _, s := range strings.Split(g, ",") {
			if s = strings.TrimSpace(s); s != "" {
				u.groups = append(u.groups, s)
			}
		}
	default:
		if u.groups, err = stringList(g); err != nil {
			return u, fmt.Errorf("cloud-config: users: %s: groups: %v", u.name, err)
		}
	}
	switch s := get("sudo").(type) {
	case bool: // sudo: false
	default:
		if u.sudo, err = stringList(s); err != nil {
			return u, fmt.Errorf("cloud-config: users: %s: sudo: %v", u.name, err)
		}
	}
	return u, nil
}

// stringList: nil, a string, or a list of strings.
func stringList(v interface{}) ([]string, error) {
	switch t := v.(type) {
	case nil:
		return nil, nil
	case string:
		return []string{t}, nil
	case []interface{}:
		var out []string
		for _, e := range t {
			s, ok := e.(string)
			if !ok {
				return nil, fmt.Errorf("an entry of type %T, not a string", e)
			}
			out = append(out, s)
		}
		return out, nil
	default:
		return nil, fmt.Errorf("a %T, not a string or a list of strings", v)
	}
}

// oneLine: a field of users.tsv (no tab, no newline).
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\t' || r == '\n' || r == '\r' {
			return ' '
		}
		return r
	}, s)
}

// writeGuestSetup puts the setup where guest-root.sh reads it: users.tsv (name, gecos, shell,
// groups, one sudo rule per further field), keys/<name> (authorized_keys), user-script.
func writeGuestSetup(dir string, setup *guestSetup) error {
	if err := os.MkdirAll(filepath.Join(dir, "keys"), 0700); err != nil {
		return err
	}
	var tsv strings.Builder
	for _, u := range setup.users {
		fields := []string{u.name, oneLine(u.gecos), oneLine(u.shell), oneLine(strings.Join(u.groups, ","))}
		for _, s := range u.sudo {
			fields = append(fields, oneLine(s))
		}
		tsv.WriteString(strings.Join(fields, "\t") + "\n")
		var keys strings.Builder
		for _, k := range u.keys {
			keys.WriteString(strings.TrimSpace(oneLine(k)) + "\n")
		}
		if err := ioutil.WriteFile(filepath.Join(dir, "keys", u.name), []byte(keys.String()), 0600); err != nil {
			return err
		}
	}
	if err := ioutil.WriteFile(filepath.Join(dir, "users.tsv"), []byte(tsv.String()), 0600); err != nil {
		return err
	}
	if setup.script != nil {
		if err := ioutil.WriteFile(filepath.Join(dir, "user-script"), setup.script, 0700); err != nil {
			return err
		}
	}
	for _, what := range setup.ignored {
		log.Log.Infof("cloud-init: not applied in the lab's guest: %s", what)
	}
	return nil
}
