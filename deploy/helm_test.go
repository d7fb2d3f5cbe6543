package deploy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"
)

// The chart rendered with its default values and with ci/ha-values.yaml, as
// scripts/deploy-check.sh renders it (and checks these files against).
var renders = []struct {
	file string
	// secretsRendered: the chart makes the Secrets (connection.urls and
	// masterKey.value) rather than naming existing ones.
	secretsRendered bool
	autoscaling     bool
	// serviceMonitor: metrics.serviceMonitor.enabled.
	serviceMonitor bool
}{
	{file: "testdata/helm-default.yaml"},
	{file: "testdata/helm-ha.yaml", secretsRendered: true, autoscaling: true, serviceMonitor: true},
}

// The parts of Kubernetes objects the tests look at.
type manifest struct {
	APIVersion string     `yaml:"apiVersion"`
	Kind       string     `yaml:"kind"`
	Metadata   objectMeta `yaml:"metadata"`
	Spec       struct {
		Replicas *int           `yaml:"replicas"`
		Selector map[string]any `yaml:"selector"`
		Template struct {
			Metadata objectMeta `yaml:"metadata"`
			Spec     podSpec    `yaml:"spec"`
		} `yaml:"template"`
		Ports []struct {
			Name       string `yaml:"name"`
			Port       int    `yaml:"port"`
			TargetPort any    `yaml:"targetPort"`
		} `yaml:"ports"`
		PublishNotReadyAddresses bool `yaml:"publishNotReadyAddresses"`
		// A ServiceMonitor's.
		JobLabel  string `yaml:"jobLabel"`
		Endpoints []struct {
			Port string `yaml:"port"`
			Path string `yaml:"path"`
		} `yaml:"endpoints"`
		ScaleTargetRef struct {
			Kind string `yaml:"kind"`
			Name string `yaml:"name"`
		} `yaml:"scaleTargetRef"`
		MaxUnavailable any `yaml:"maxUnavailable"`
	} `yaml:"spec"`
}

type objectMeta struct {
	Name        string            `yaml:"name"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

type podSpec struct {
	TerminationGracePeriodSeconds *int `yaml:"terminationGracePeriodSeconds"`
	SecurityContext               struct {
		RunAsNonRoot bool `yaml:"runAsNonRoot"`
	} `yaml:"securityContext"`
	InitContainers []container `yaml:"initContainers"`
	Containers     []container `yaml:"containers"`
	Volumes        []struct {
		Name   string `yaml:"name"`
		Secret *struct {
			SecretName string `yaml:"secretName"`
		} `yaml:"secret"`
	} `yaml:"volumes"`
}

type container struct {
	Name    string   `yaml:"name"`
	Image   string   `yaml:"image"`
	Command []string `yaml:"command"`
	Args    []string `yaml:"args"`
	Env     []struct {
		Name      string `yaml:"name"`
		Value     string `yaml:"value"`
		ValueFrom *struct {
			SecretKeyRef *struct {
				Name string `yaml:"name"`
				Key  string `yaml:"key"`
			} `yaml:"secretKeyRef"`
		} `yaml:"valueFrom"`
	} `yaml:"env"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	ReadinessProbe *probe `yaml:"readinessProbe"`
	LivenessProbe  *probe `yaml:"livenessProbe"`
	Lifecycle      struct {
		PreStop struct {
			Sleep struct {
				Seconds int `yaml:"seconds"`
			} `yaml:"sleep"`
		} `yaml:"preStop"`
	} `yaml:"lifecycle"`
	Resources struct {
		Requests map[string]string `yaml:"requests"`
		Limits   map[string]string `yaml:"limits"`
	} `yaml:"resources"`
	SecurityContext struct {
		AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
		ReadOnlyRootFilesystem   bool  `yaml:"readOnlyRootFilesystem"`
	} `yaml:"securityContext"`
	VolumeMounts []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
	} `yaml:"volumeMounts"`
}

type probe struct {
	HTTPGet struct {
		Path string `yaml:"path"`
		Port any    `yaml:"port"`
	} `yaml:"httpGet"`
}

// env returns the container's environment variables with literal values
// (and "secret:NAME/KEY" for those from Secrets).
func (c container) env() map[string]string {
	m := make(map[string]string, len(c.Env))
	for _, e := range c.Env {
		v := e.Value
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			v = "secret:" + e.ValueFrom.SecretKeyRef.Name + "/" + e.ValueFrom.SecretKeyRef.Key
		}
		m[e.Name] = v
	}
	return m
}

// isMagpie reports whether the container runs the magpie binary: the
// image's entrypoint, with no command of its own.
func (c container) isMagpie() bool { return len(c.Command) == 0 }

// portNumber resolves a probe's or Service's port, by number or by name.
func (c container) portNumber(p any) int {
	switch p := p.(type) {
	case uint64:
		return int(p)
	case int64:
		return int(p)
	case int:
		return p
	case string:
		for _, cp := range c.Ports {
			if cp.Name == p {
				return cp.ContainerPort
			}
		}
	}
	return 0
}

func loadManifests(t *testing.T, path string) []manifest {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var out []manifest
	for {
		var m manifest
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("decode %s: %v", path, err)
		}
		if m.Kind != "" {
			out = append(out, m)
		}
	}
	if len(out) == 0 {
		t.Fatalf("%s: no objects", path)
	}
	return out
}

// workload is a Deployment or Job with its magpie container.
type workload struct {
	m       manifest
	magpie  container
	command string
}

func workloads(t *testing.T, ms []manifest) map[string]workload {
	t.Helper()
	out := map[string]workload{}
	for _, m := range ms {
		if m.Kind != "Deployment" && m.Kind != "Job" {
			continue
		}
		var found []container
		for _, c := range m.Spec.Template.Spec.Containers {
			if c.isMagpie() {
				found = append(found, c)
			}
		}
		if len(found) != 1 || len(found[0].Args) == 0 {
			t.Errorf("%s %s: want one magpie container with a command in args, found %d", m.Kind, m.Metadata.Name, len(found))
			continue
		}
		cmd := found[0].Args[0]
		if _, dup := out[cmd]; dup {
			t.Errorf("two workloads run magpie %s", cmd)
		}
		out[cmd] = workload{m: m, magpie: found[0], command: cmd}
	}
	for _, cmd := range []string{"gateway", "worker", "migrate"} {
		if _, ok := out[cmd]; !ok {
			t.Errorf("no workload runs magpie %s", cmd)
		}
	}
	return out
}

func TestHelmContainersUseOnlyContractFlags(t *testing.T) {
	for _, r := range renders {
		t.Run(filepath.Base(r.file), func(t *testing.T) {
			for _, w := range workloads(t, loadManifests(t, r.file)) {
				for _, p := range checkCommand(w.magpie.Args, w.magpie.env()) {
					t.Errorf("%s %s: %s", w.m.Kind, w.m.Metadata.Name, p)
				}
			}
		})
	}
}

func TestHelmContainers(t *testing.T) {
	for _, r := range renders {
		t.Run(filepath.Base(r.file), func(t *testing.T) {
			for _, m := range loadManifests(t, r.file) {
				if m.Kind != "Deployment" && m.Kind != "Job" {
					continue
				}
				spec := m.Spec.Template.Spec
				if !spec.SecurityContext.RunAsNonRoot {
					t.Errorf("%s %s: pod without runAsNonRoot", m.Kind, m.Metadata.Name)
				}
				for _, c := range append(slices.Clone(spec.InitContainers), spec.Containers...) {
					name := m.Metadata.Name + "/" + c.Name
					if i := strings.LastIndex(c.Image, ":"); i <= 0 || i == len(c.Image)-1 || strings.Contains(c.Image, "<nil>") {
						t.Errorf("%s: image %q has no tag", name, c.Image)
					}
					if c.Resources.Requests["memory"] == "" || c.Resources.Limits["memory"] == "" {
						t.Errorf("%s: no memory request and limit", name)
					}
					if p := c.SecurityContext.AllowPrivilegeEscalation; p == nil || *p {
						t.Errorf("%s: allowPrivilegeEscalation is not false", name)
					}
					if !c.SecurityContext.ReadOnlyRootFilesystem {
						t.Errorf("%s: root filesystem is writable", name)
					}
				}
			}
		})
	}
}

func TestHelmGatewayAndWorkerLifecycle(t *testing.T) {
	tests := []struct {
		cmd     string
		port    int
		preStop bool
	}{
		{cmd: "gateway", port: 8080, preStop: true},
		{cmd: "worker", port: 8081},
	}
	for _, r := range renders {
		ws := workloads(t, loadManifests(t, r.file))
		for _, tt := range tests {
			t.Run(filepath.Base(r.file)+"/"+tt.cmd, func(t *testing.T) {
				w, ok := ws[tt.cmd]
				if !ok {
					t.Fatal("missing")
				}
				c, env := w.magpie, w.magpie.env()
				if addr, _ := flagValue(c.Args, env, "addr"); addr != fmt.Sprintf(":%d", tt.port) {
					t.Errorf("--addr = %q, want :%d", addr, tt.port)
				}
				for _, p := range []struct {
					name  string
					probe *probe
					path  string
				}{{"readiness", c.ReadinessProbe, "/readyz"}, {"liveness", c.LivenessProbe, "/healthz"}} {
					if p.probe == nil {
						t.Errorf("no %s probe", p.name)
						continue
					}
					if p.probe.HTTPGet.Path != p.path || c.portNumber(p.probe.HTTPGet.Port) != tt.port {
						t.Errorf("%s probe = %s on port %v, want %s on %d", p.name, p.probe.HTTPGet.Path, p.probe.HTTPGet.Port, p.path, tt.port)
					}
				}
				for _, f := range []string{"mongo-url", "amqp-url", "redis-url"} {
					if !slices.Contains(contract[tt.cmd], f) {
						continue // the worker does not use Redis
					}
					if v, _ := flagValue(c.Args, env, f); !strings.HasPrefix(v, "secret:") {
						t.Errorf("--%s = %q, want it from a Secret", f, v)
					}
				}
				keyFile, _ := flagValue(c.Args, env, "master-key-file")
				if !mounted(c, keyFile) {
					t.Errorf("--master-key-file %q is on no mounted volume", keyFile)
				}
				if _, ok := flagValue(c.Args, env, "node-id"); ok {
					t.Errorf("--node-id is set: the default (host name plus a random suffix) is unique per process run; a fixed id is not")
				}
				shutdown, err := shutdownTimeout(c.Args, env)
				if err != nil {
					t.Fatal(err)
				}
				preStop := time.Duration(c.Lifecycle.PreStop.Sleep.Seconds) * time.Second
				if tt.preStop && preStop <= 0 {
					t.Errorf("no preStop sleep: the load balancer would still send connections to a stopping gateway")
				}
				grace := w.m.Spec.Template.Spec.TerminationGracePeriodSeconds
				if grace == nil || time.Duration(*grace)*time.Second <= preStop+shutdown {
					t.Errorf("terminationGracePeriodSeconds = %v, want more than preStop %v + --shutdown-timeout %v", grace, preStop, shutdown)
				}
				if hasReplicas := w.m.Spec.Replicas != nil; hasReplicas == r.autoscaling {
					t.Errorf("replicas set = %v with autoscaling = %v", hasReplicas, r.autoscaling)
				}
			})
		}
	}
}

// mounted reports whether path lies in one of c's volume mounts.
func mounted(c container, path string) bool {
	for _, m := range c.VolumeMounts {
		if path != "" && strings.HasPrefix(path, strings.TrimSuffix(m.MountPath, "/")+"/") {
			return true
		}
	}
	return false
}

func TestHelmMigrateIsAPreInstallAndPreUpgradeHook(t *testing.T) {
	for _, r := range renders {
		t.Run(filepath.Base(r.file), func(t *testing.T) {
			w := workloads(t, loadManifests(t, r.file))["migrate"]
			if w.m.Kind != "Job" {
				t.Fatalf("migrate runs in a %s, want a Job", w.m.Kind)
			}
			hooks := strings.Split(w.m.Metadata.Annotations["helm.sh/hook"], ",")
			for _, want := range []string{"pre-install", "pre-upgrade"} {
				if !slices.Contains(hooks, want) {
					t.Errorf("helm.sh/hook = %q, want %s in it", w.m.Metadata.Annotations["helm.sh/hook"], want)
				}
			}
		})
	}
}

func TestHelmObjectsFitTogether(t *testing.T) {
	for _, r := range renders {
		t.Run(filepath.Base(r.file), func(t *testing.T) {
			ms := loadManifests(t, r.file)
			ws := workloads(t, ms)
			gw := ws["gateway"]
			byKind := map[string][]manifest{}
			for _, m := range ms {
				byKind[m.Kind] = append(byKind[m.Kind], m)
			}

			// The Service reaches the gateways' HTTP port. (The others are
			// the metrics Services, TestHelmServiceMonitor.)
			var services []manifest
			for _, m := range byKind["Service"] {
				if m.Metadata.Labels[metricsJobLabel] == "" {
					services = append(services, m)
				}
			}
			if len(services) != 1 {
				t.Fatalf("%d Services, want 1", len(services))
			}
			svc := services[0]
			if !selects(svc.Spec.Selector, gw.m.Spec.Template.Metadata.Labels) {
				t.Errorf("Service selector %v does not select the gateway pods %v", svc.Spec.Selector, gw.m.Spec.Template.Metadata.Labels)
			}
			if len(svc.Spec.Ports) != 1 || gw.magpie.portNumber(svc.Spec.Ports[0].TargetPort) != 8080 {
				t.Errorf("Service ports %+v do not reach the gateway's 8080", svc.Spec.Ports)
			}

			// A PodDisruptionBudget keeps gateways up through node drains.
			var gatewayPDB bool
			for _, pdb := range byKind["PodDisruptionBudget"] {
				sel, _ := pdb.Spec.Selector["matchLabels"].(map[string]any)
				gatewayPDB = gatewayPDB || selects(sel, gw.m.Spec.Template.Metadata.Labels)
			}
			if !gatewayPDB {
				t.Error("no PodDisruptionBudget for the gateways")
			}

			// Autoscalers scale Deployments that exist.
			for _, hpa := range byKind["HorizontalPodAutoscaler"] {
				ref := hpa.Spec.ScaleTargetRef
				if !slices.ContainsFunc(byKind[ref.Kind], func(m manifest) bool { return m.Metadata.Name == ref.Name }) {
					t.Errorf("HorizontalPodAutoscaler %s scales %s %s, which is not rendered", hpa.Metadata.Name, ref.Kind, ref.Name)
				}
			}
			if got := len(byKind["HorizontalPodAutoscaler"]) > 0; got != r.autoscaling {
				t.Errorf("autoscalers rendered = %v, want %v", got, r.autoscaling)
			}

			// Secrets: made by the chart, or named by the values and made by
			// the operator.
			rendered := map[string]bool{}
			for _, s := range byKind["Secret"] {
				rendered[s.Metadata.Name] = true
			}
			for _, w := range ws {
				for _, name := range secretRefs(w.m.Spec.Template.Spec) {
					if rendered[name] != r.secretsRendered {
						t.Errorf("%s refers to Secret %s: rendered = %v, want %v", w.m.Metadata.Name, name, rendered[name], r.secretsRendered)
					}
				}
			}
		})
	}
}

// selects reports whether every label of selector is in labels.
func selects(selector map[string]any, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if s, ok := v.(string); !ok || labels[k] != s {
			return false
		}
	}
	return true
}

// secretRefs returns the names of the Secrets a pod spec uses.
func secretRefs(spec podSpec) []string {
	var names []string
	for _, v := range spec.Volumes {
		if v.Secret != nil {
			names = append(names, v.Secret.SecretName)
		}
	}
	for _, c := range append(slices.Clone(spec.InitContainers), spec.Containers...) {
		for _, e := range c.Env {
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
				names = append(names, e.ValueFrom.SecretKeyRef.Name)
			}
		}
	}
	return names
}

// metricsJobLabel is the label of the chart's metrics Services that the
// ServiceMonitor makes the job label of the scraped series.
const metricsJobLabel = "magpie-job"

// TestHelmServiceMonitor checks that, with metrics.serviceMonitor.enabled,
// the Prometheus Operator scrapes every gateway and worker, ready or not, on
// port metrics with the jobs that deploy/monitoring expects.
func TestHelmServiceMonitor(t *testing.T) {
	for _, r := range renders {
		t.Run(filepath.Base(r.file), func(t *testing.T) {
			ms := loadManifests(t, r.file)
			ws := workloads(t, ms)
			var monitors, services []manifest
			for _, m := range ms {
				switch {
				case m.Kind == "ServiceMonitor":
					monitors = append(monitors, m)
				case m.Kind == "Service" && m.Metadata.Labels[metricsJobLabel] != "":
					services = append(services, m)
				}
			}
			if !r.serviceMonitor {
				if len(monitors)+len(services) > 0 {
					t.Fatalf("%d ServiceMonitors and %d metrics Services rendered, want none", len(monitors), len(services))
				}
				return
			}
			if len(monitors) != 1 {
				t.Fatalf("%d ServiceMonitors, want 1", len(monitors))
			}
			sm := monitors[0]
			if sm.APIVersion != "monitoring.coreos.com/v1" {
				t.Errorf("ServiceMonitor apiVersion = %q, want monitoring.coreos.com/v1", sm.APIVersion)
			}
			if sm.Spec.JobLabel != metricsJobLabel {
				t.Errorf("ServiceMonitor jobLabel = %q, want %q", sm.Spec.JobLabel, metricsJobLabel)
			}
			if len(sm.Spec.Endpoints) != 1 || sm.Spec.Endpoints[0].Port != "metrics" || sm.Spec.Endpoints[0].Path != "/metrics" {
				t.Errorf("ServiceMonitor endpoints = %+v, want port metrics, path /metrics", sm.Spec.Endpoints)
			}
			matchLabels, _ := sm.Spec.Selector["matchLabels"].(map[string]any)

			jobs := map[string]bool{}
			for _, svc := range services {
				job := svc.Metadata.Labels[metricsJobLabel]
				jobs[job] = true
				w, ok := ws[strings.TrimPrefix(job, "magpie-")]
				if !ok {
					t.Errorf("Service %s: job %s is not magpie-gateway or magpie-worker", svc.Metadata.Name, job)
					continue
				}
				if !selects(matchLabels, svc.Metadata.Labels) {
					t.Errorf("ServiceMonitor matchLabels %v do not select Service %s %v", matchLabels, svc.Metadata.Name, svc.Metadata.Labels)
				}
				if !selects(svc.Spec.Selector, w.m.Spec.Template.Metadata.Labels) {
					t.Errorf("Service %s selector %v does not select the %s pods", svc.Metadata.Name, svc.Spec.Selector, job)
				}
				if !svc.Spec.PublishNotReadyAddresses {
					t.Errorf("Service %s: publishNotReadyAddresses is false, so unready pods are not scraped", svc.Metadata.Name)
				}
				ports := svc.Spec.Ports
				if len(ports) != 1 || ports[0].Name != "metrics" || ports[0].Port != 9090 || ports[0].TargetPort != "metrics" {
					t.Errorf("Service %s ports = %+v, want metrics 9090 to the container port metrics", svc.Metadata.Name, ports)
				}
			}
			if want := map[string]bool{"magpie-gateway": true, "magpie-worker": true}; !maps.Equal(jobs, want) {
				t.Errorf("metrics Services for jobs %v, want %v", jobs, want)
			}
		})
	}
}
