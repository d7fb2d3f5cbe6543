package deploy

import (
	"os"
	"path"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"
)

// The parts of compose.yaml the tests look at.
type composeFile struct {
	Services map[string]composeService `yaml:"services"`
	Volumes  map[string]any            `yaml:"volumes"`
}

type composeService struct {
	Image       string            `yaml:"image"`
	Build       any               `yaml:"build"`
	Command     []string          `yaml:"command"`
	Environment map[string]string `yaml:"environment"`
	Ports       []string          `yaml:"ports"`
	Volumes     []string          `yaml:"volumes"`
	DependsOn   map[string]struct {
		Condition string `yaml:"condition"`
	} `yaml:"depends_on"`
	Healthcheck *struct {
		Test []string `yaml:"test"`
	} `yaml:"healthcheck"`
	StopGracePeriod string   `yaml:"stop_grace_period"`
	Profiles        []string `yaml:"profiles"`
	Networks        map[string]struct {
		Aliases []string `yaml:"aliases"`
	} `yaml:"networks"`
}

func (s composeService) isMagpie() bool { return s.Build != nil }

func loadCompose(t *testing.T) composeFile {
	t.Helper()
	data, err := os.ReadFile("compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var f composeFile
	if err := yaml.Unmarshal(data, &f); err != nil {
		t.Fatalf("parse compose.yaml: %v", err)
	}
	return f
}

func TestComposeServices(t *testing.T) {
	f := loadCompose(t)
	want := map[string]string{ // service → image, "" for the magpie image
		"mongo":     "mongo:7",
		"rabbitmq":  "rabbitmq:3.13-management",
		"redis":     "redis:7",
		"migrate":   "",
		"bootstrap": "",
		"gateway-1": "",
		"gateway-2": "",
		"worker":    "",
		"lb":        "nginx:",
	}
	for name, image := range want {
		s, ok := f.Services[name]
		switch {
		case !ok:
			t.Errorf("no service %s", name)
		case image == "" && !s.isMagpie():
			t.Errorf("%s: image %q, want the magpie image built from deploy/Dockerfile", name, s.Image)
		case image != "" && !strings.HasPrefix(s.Image, image):
			t.Errorf("%s: image %q, want %s", name, s.Image, image)
		}
	}
}

func TestComposeMagpieServicesUseOnlyContractFlags(t *testing.T) {
	for name, s := range loadCompose(t).Services {
		if !s.isMagpie() {
			continue
		}
		for _, p := range checkCommand(s.Command, s.Environment) {
			t.Errorf("%s: %s", name, p)
		}
	}
}

func TestComposePublishesOnLoopbackOnly(t *testing.T) {
	for name, s := range loadCompose(t).Services {
		for _, p := range s.Ports {
			if !strings.HasPrefix(p, "127.0.0.1:") {
				t.Errorf("%s publishes %q, want 127.0.0.1:HOST:CONTAINER", name, p)
			}
		}
	}
}

func TestComposeStartOrder(t *testing.T) {
	f := loadCompose(t)
	for _, name := range []string{"mongo", "rabbitmq", "redis", "lb"} {
		if f.Services[name].Healthcheck == nil {
			t.Errorf("%s has no healthcheck", name)
		}
	}
	mongo := f.Services["mongo"]
	if !slices.Contains(mongo.Command, "--replSet") || !strings.Contains(strings.Join(mongo.Healthcheck.Test, " "), "rs.initiate") {
		t.Errorf("mongo: command %q, healthcheck %q: want a replica set that the healthcheck initiates", mongo.Command, mongo.Healthcheck.Test)
	}
	deps := []struct{ service, on, condition string }{
		{"migrate", "mongo", "service_healthy"},
		{"bootstrap", "migrate", "service_completed_successfully"},
		{"worker", "bootstrap", "service_completed_successfully"},
		{"worker", "rabbitmq", "service_healthy"},
		{"worker", "redis", "service_healthy"},
		{"lb", "gateway-1", ""},
		{"lb", "gateway-2", ""},
	}
	for _, g := range gateways(f) {
		deps = append(deps,
			struct{ service, on, condition string }{g, "bootstrap", "service_completed_successfully"},
			struct{ service, on, condition string }{g, "rabbitmq", "service_healthy"},
			struct{ service, on, condition string }{g, "redis", "service_healthy"})
	}
	for _, d := range deps {
		dep, ok := f.Services[d.service].DependsOn[d.on]
		if !ok || (d.condition != "" && dep.Condition != d.condition) {
			t.Errorf("%s depends on %s with %q, want %q", d.service, d.on, dep.Condition, d.condition)
		}
	}
	for name, s := range f.Services {
		if url := s.Environment["MAGPIE_MONGO_URL"]; url != "" && !strings.Contains(url, "replicaSet=rs0") {
			t.Errorf("%s: MAGPIE_MONGO_URL %q does not name the replica set", name, url)
		}
	}
}

// gateways returns the names of the services that run magpie gateway.
func gateways(f composeFile) []string {
	var out []string
	for name, s := range f.Services {
		if s.isMagpie() && len(s.Command) > 0 && s.Command[0] == "gateway" {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

func TestComposeGateways(t *testing.T) {
	f := loadCompose(t)
	gs := gateways(f)
	if len(gs) < 2 {
		t.Fatalf("gateways %v, want at least gateway-1 and gateway-2", gs)
	}
	conf, err := os.ReadFile("compose/nginx.conf")
	if err != nil {
		t.Fatal(err)
	}
	upstream := regexp.MustCompile(`(?m)^\s*server\s+([\w.-]+):8080\b`).FindAllStringSubmatch(string(conf), -1)
	if len(upstream) == 0 {
		t.Fatal("nginx.conf: no upstream server on port 8080")
	}
	for _, h := range []string{"proxy_set_header Upgrade", "proxy_set_header Connection", "proxy_set_header X-Forwarded-For"} {
		if !strings.Contains(string(conf), h) {
			t.Errorf("nginx.conf lacks %q", h)
		}
	}
	for _, name := range gs {
		s := f.Services[name]
		if addr := s.Environment["MAGPIE_ADDR"]; addr != ":8080" {
			t.Errorf("%s: MAGPIE_ADDR %q, want :8080", name, addr)
		}
		if s.Environment["MAGPIE_TRUSTED_PROXIES"] == "" {
			t.Errorf("%s: no MAGPIE_TRUSTED_PROXIES: every client would share nginx's address", name)
		}
		var names []string
		for _, n := range s.Networks {
			names = append(names, n.Aliases...)
		}
		for _, u := range upstream {
			if !slices.Contains(names, u[1]) {
				t.Errorf("%s: nginx sends to %s, not among its aliases %v", name, u[1], names)
			}
		}
	}
	if !slices.Contains(f.Services["gateway-3"].Profiles, "three") {
		t.Errorf("gateway-3 profiles %v, want three", f.Services["gateway-3"].Profiles)
	}
}

func TestComposeShutdownGrace(t *testing.T) {
	for name, s := range loadCompose(t).Services {
		if !s.isMagpie() || (s.Command[0] != "gateway" && s.Command[0] != "worker") {
			continue
		}
		shutdown, err := shutdownTimeout(s.Command, s.Environment)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		grace, err := time.ParseDuration(s.StopGracePeriod)
		if err != nil || grace <= shutdown {
			t.Errorf("%s: stop_grace_period %q, want more than --shutdown-timeout %v", name, s.StopGracePeriod, shutdown)
		}
	}
}

func TestComposeMasterKeyIsShared(t *testing.T) {
	f := loadCompose(t)
	// volume returns the named volume s mounts at dir, and whether read-only.
	volume := func(s composeService, dir string) (name string, readOnly bool) {
		for _, v := range s.Volumes {
			parts := strings.Split(v, ":")
			if len(parts) >= 2 && parts[1] == dir {
				return parts[0], len(parts) == 3 && parts[2] == "ro"
			}
		}
		return "", false
	}
	var want string
	for _, name := range []string{"bootstrap", "gateway-1", "gateway-2", "gateway-3", "worker"} {
		s := f.Services[name]
		file := s.Environment["MAGPIE_MASTER_KEY_FILE"]
		if file == "" {
			t.Errorf("%s: no MAGPIE_MASTER_KEY_FILE", name)
			continue
		}
		vol, ro := volume(s, path.Dir(file))
		if _, ok := f.Volumes[vol]; !ok {
			t.Errorf("%s: %s is on no named volume", name, file)
			continue
		}
		if want == "" {
			want = vol
		}
		if vol != want {
			t.Errorf("%s: key volume %s, want %s as bootstrap's", name, vol, want)
		}
		if ro != (name != "bootstrap") {
			t.Errorf("%s: key volume read-only = %v; only bootstrap writes the key", name, ro)
		}
	}
}

// TestComposeFilesAreShared: every gateway stores uploaded files on one
// named volume, writable, so that any gateway serves any file.
func TestComposeFilesAreShared(t *testing.T) {
	f := loadCompose(t)
	var want string
	for _, name := range gateways(f) {
		s := f.Services[name]
		dir := s.Environment["MAGPIE_FILES_DIR"]
		if dir == "" {
			t.Errorf("%s: no MAGPIE_FILES_DIR: uploads would be refused", name)
			continue
		}
		vol := ""
		for _, v := range s.Volumes {
			parts := strings.Split(v, ":")
			if len(parts) >= 2 && parts[1] == dir {
				vol = parts[0]
				if len(parts) == 3 && parts[2] == "ro" {
					t.Errorf("%s: the files volume is read-only", name)
				}
			}
		}
		if _, ok := f.Volumes[vol]; !ok {
			t.Errorf("%s: %s is on no named volume", name, dir)
			continue
		}
		if want == "" {
			want = vol
		}
		if vol != want {
			t.Errorf("%s: files volume %s, want %s as the other gateways'", name, vol, want)
		}
	}
}
