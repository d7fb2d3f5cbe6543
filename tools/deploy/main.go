// Command deploycheck validates Magpie's deployment files offline, for
// scripts/deploy-check.sh. It lives in the tools/deploy module, beside the
// pinned helm, so that Magpie's product module links neither Kubernetes nor
// Compose libraries.
//
//	deploycheck k8s FILE...      every YAML document is a Kubernetes object
//	                             that decodes strictly (no unknown or
//	                             duplicate fields, valid quantities) into its
//	                             typed API struct, with valid names and labels;
//	                             the Prometheus Operator's kinds
//	                             (monitoring.coreos.com/v1) included
//	deploycheck compose FILE [PROFILE...]
//	                             the Compose file loads and validates against
//	                             the Compose specification, as docker compose
//	                             would load it, with the profiles enabled
//
// Neither needs a cluster, a Docker daemon or the network.
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/json"
	"k8s.io/apimachinery/pkg/util/validation"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes/scheme"
)

// kinds knows the built-in Kubernetes kinds and the Prometheus Operator's.
var kinds = func() *runtime.Scheme {
	s := runtime.NewScheme()
	if err := scheme.AddToScheme(s); err != nil {
		panic(err)
	}
	if err := monitoringv1.AddToScheme(s); err != nil {
		panic(err)
	}
	return s
}()

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "deploycheck:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) < 2 {
		return errors.New("usage: deploycheck k8s FILE... | deploycheck compose FILE [PROFILE...]")
	}
	switch args[0] {
	case "k8s":
		n := 0
		for _, path := range args[1:] {
			k, err := checkManifests(path)
			if err != nil {
				return err
			}
			n += k
		}
		_, err := fmt.Fprintf(stdout, "k8s ok objects=%d\n", n)
		return err
	case "compose":
		services, err := checkCompose(ctx, args[1], args[2:])
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(stdout, "compose ok services=%s\n", strings.Join(services, ","))
		return err
	}
	return fmt.Errorf("unknown check %q", args[0])
}

// checkManifests decodes every document of a multi-document YAML file
// strictly into its typed Kubernetes object and reports how many there were.
func checkManifests(path string) (int, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	codec := json.NewSerializerWithOptions(json.DefaultMetaFactory, kinds, kinds,
		json.SerializerOptions{Yaml: true, Strict: true})
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	n := 0
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, fmt.Errorf("%s: %w", path, err)
		}
		if isEmpty(doc) {
			continue
		}
		obj, gvk, err := codec.Decode(doc, nil, nil)
		if err != nil {
			return n, fmt.Errorf("%s: document %d: %w", path, n+1, err)
		}
		if err := checkObject(obj); err != nil {
			return n, fmt.Errorf("%s: %s: %w", path, gvk.Kind, err)
		}
		n++
	}
}

// checkObject checks what strict decoding does not: names, labels, and the
// names of ports and environment variables of pod templates.
func checkObject(obj runtime.Object) error {
	m, err := meta.Accessor(obj)
	if err != nil {
		return err
	}
	var errs []string
	for _, e := range validation.IsDNS1123Subdomain(m.GetName()) {
		errs = append(errs, fmt.Sprintf("name %q: %s", m.GetName(), e))
	}
	for k, v := range m.GetLabels() {
		for _, e := range validation.IsQualifiedName(k) {
			errs = append(errs, fmt.Sprintf("label %q: %s", k, e))
		}
		for _, e := range validation.IsValidLabelValue(v) {
			errs = append(errs, fmt.Sprintf("label %s=%q: %s", k, v, e))
		}
	}
	if spec := podSpec(obj); spec != nil {
		containers := append(append([]corev1.Container{}, spec.InitContainers...), spec.Containers...)
		for _, c := range containers {
			for _, p := range c.Ports {
				if p.Name == "" {
					continue
				}
				for _, e := range validation.IsValidPortName(p.Name) {
					errs = append(errs, fmt.Sprintf("container %s: port %q: %s", c.Name, p.Name, e))
				}
			}
			for _, env := range c.Env {
				for _, e := range validation.IsEnvVarName(env.Name) {
					errs = append(errs, fmt.Sprintf("container %s: env %q: %s", c.Name, env.Name, e))
				}
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s: %s", m.GetName(), strings.Join(errs, "; "))
	}
	return nil
}

// podSpec returns the pod spec of a workload, or nil.
func podSpec(obj runtime.Object) *corev1.PodSpec {
	switch o := obj.(type) {
	case *corev1.Pod:
		return &o.Spec
	case *appsv1.Deployment:
		return &o.Spec.Template.Spec
	case *appsv1.StatefulSet:
		return &o.Spec.Template.Spec
	case *appsv1.DaemonSet:
		return &o.Spec.Template.Spec
	case *batchv1.Job:
		return &o.Spec.Template.Spec
	case *batchv1.CronJob:
		return &o.Spec.JobTemplate.Spec.Template.Spec
	}
	return nil
}

// checkCompose loads a Compose file as docker compose would (interpolation
// with the defaults in the file, merges, schema validation, consistency of
// depends_on, volumes and networks) and returns its services.
func checkCompose(ctx context.Context, path string, profiles []string) ([]string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	opts, err := cli.NewProjectOptions([]string{abs},
		cli.WithWorkingDirectory(filepath.Dir(abs)),
		cli.WithEnv(nil), // the file's own defaults, not this machine's environment
		cli.WithProfiles(profiles),
	)
	if err != nil {
		return nil, err
	}
	p, err := opts.LoadProject(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return p.ServiceNames(), nil
}

func isEmpty(doc []byte) bool {
	for _, line := range bytes.Split(doc, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) > 0 && line[0] != '#' && string(line) != "---" {
			return false
		}
	}
	return true
}
