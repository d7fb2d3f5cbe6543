package deploy

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"

	"github.com/magpie-im/magpie/internal/telemetry"
)

// serverMetrics are the metric names the magpie server exposes on each
// process's admin listener (:9090/metrics). It must match the server's
// metrics: the alerts and the dashboard in monitoring/ may use only these
// (and up), and a metric renamed or removed in the server must be renamed or
// removed here, which makes this test name every rule and panel that uses it.
// Histograms are listed by their base name (without _bucket, _sum, _count).
var serverMetrics = []string{
	"magpie_build_info",
	"magpie_connections",
	"magpie_logins_total",
	"magpie_frames_in_total",
	"magpie_frames_out_total",
	"magpie_socket_writes_total",
	"magpie_messages_accepted_total",
	"magpie_messages_delivered_total",
	"magpie_messages_stored_offline_total",
	"magpie_delivery_latency_seconds",
	"magpie_api_requests_total",
	"magpie_api_request_duration_seconds",
	"magpie_rate_limited_total",
	"magpie_bus_jobs_total",
	"magpie_bus_dead_letters_total",
	"magpie_bus_publishes_total",
	"magpie_bus_job_lag_seconds",
	"magpie_bus_queue_depth",
	"magpie_search_queue",
	"magpie_offline_notifications_dropped_total",
	"magpie_ready",
	"magpie_push_sends_total",
	"magpie_push_send_duration_seconds",
	"magpie_push_lag_seconds",
	"magpie_push_notifications_total",
	"magpie_push_failures_total",
	"magpie_sync_requests_total",
	"magpie_sync_items_total",
	"magpie_store_operation_duration_seconds",
	"magpie_store_errors_total",
	"magpie_webhook_deliveries_total",
	"magpie_webhook_delivery_duration_seconds",
	"magpie_webhook_endpoints_disabled_total",
	"magpie_webhook_events_dropped_total",
	"magpie_presend_hook_seconds",
	"magpie_moderation_verdicts_total",
	"magpie_support_outbox_drained_total",
	"magpie_support_outbox_drain_errors_total",
	"magpie_support_outbox_oldest_pending_seconds",
	"magpie_support_sweep_routed_total",
	"magpie_support_sweep_errors_total",
}

const (
	alertsFile    = "monitoring/alerts.yaml"
	ruleTestsFile = "monitoring/promtool-tests.yaml"
	dashboardFile = "monitoring/grafana-dashboard.json"
	runbookDir    = "../docs/runbooks"
	// runbookBase + "<alertname>.md" is every alert's runbook_url.
	runbookBase = "https://github.com/magpie-im/magpie/blob/main/docs/runbooks/"
)

type alertRule struct {
	Group       string            `yaml:"-"`
	Alert       string            `yaml:"alert"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

// loadAlerts returns every rule of alerts.yaml (promtool checks that they
// are valid; this reads them for the cross-checks below).
func loadAlerts(t *testing.T) []alertRule {
	t.Helper()
	data, err := os.ReadFile(alertsFile)
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Groups []struct {
			Name  string      `yaml:"name"`
			Rules []alertRule `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.UnmarshalWithOptions(data, &f, yaml.Strict()); err != nil {
		t.Fatalf("%s: %v", alertsFile, err)
	}
	var rules []alertRule
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			r.Group = g.Name
			rules = append(rules, r)
		}
	}
	if len(rules) == 0 {
		t.Fatalf("%s has no rules", alertsFile)
	}
	return rules
}

type dashPanel struct {
	ID         int             `json:"id"`
	Type       string          `json:"type"`
	Title      string          `json:"title"`
	Datasource *dashDatasource `json:"datasource"`
	Targets    []struct {
		RefID      string          `json:"refId"`
		Expr       string          `json:"expr"`
		Datasource *dashDatasource `json:"datasource"`
	} `json:"targets"`
	Panels []dashPanel `json:"panels"` // a collapsed row's panels
}

type dashDatasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type dashboard struct {
	Inputs []struct {
		Name     string `json:"name"`
		Type     string `json:"type"`
		PluginID string `json:"pluginId"`
	} `json:"__inputs"`
	SchemaVersion int         `json:"schemaVersion"`
	UID           string      `json:"uid"`
	Title         string      `json:"title"`
	Panels        []dashPanel `json:"panels"`
	Templating    struct {
		List []struct {
			Name       string          `json:"name"`
			Type       string          `json:"type"`
			Datasource *dashDatasource `json:"datasource"`
			Definition string          `json:"definition"`
		} `json:"list"`
	} `json:"templating"`
}

func loadDashboard(t *testing.T) dashboard {
	t.Helper()
	data, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	return d
}

// panels returns the dashboard's panels in order, rows included, with the
// panels of collapsed rows after their row.
func (d dashboard) panels() []dashPanel {
	var all []dashPanel
	for _, p := range d.Panels {
		all = append(all, p)
		all = append(all, p.Panels...)
	}
	return all
}

func TestAlertsHaveLabelsAnnotationsAndRunbooks(t *testing.T) {
	index, err := os.ReadFile(filepath.Join(runbookDir, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, r := range loadAlerts(t) {
		t.Run(r.Alert, func(t *testing.T) {
			if r.Alert == "" {
				t.Fatalf("group %s has a rule that is not an alert (expr %q)", r.Group, r.Expr)
			}
			if seen[r.Alert] {
				t.Errorf("alert %s is defined twice", r.Alert)
			}
			seen[r.Alert] = true
			if s := r.Labels["severity"]; !slices.Contains([]string{"critical", "warning", "info"}, s) {
				t.Errorf("severity = %q, want critical, warning or info", s)
			}
			for _, a := range []string{"summary", "description"} {
				if strings.TrimSpace(r.Annotations[a]) == "" {
					t.Errorf("annotation %s is missing", a)
				}
			}
			if got, want := r.Annotations["runbook_url"], runbookBase+r.Alert+".md"; got != want {
				t.Errorf("runbook_url = %q, want %q", got, want)
			}
			runbook := filepath.Join(runbookDir, r.Alert+".md")
			data, err := os.ReadFile(runbook)
			if err != nil {
				t.Fatalf("runbook: %v", err)
			}
			if !strings.HasPrefix(string(data), "# "+r.Alert+"\n") {
				t.Errorf("%s does not start with the heading %q", runbook, "# "+r.Alert)
			}
			if !strings.Contains(string(index), "("+r.Alert+".md)") {
				t.Errorf("%s/README.md does not link %s.md", runbookDir, r.Alert)
			}
		})
	}

	// Every runbook belongs to an alert.
	files, err := filepath.Glob(filepath.Join(runbookDir, "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".md")
		if name != "README" && !seen[name] {
			t.Errorf("%s is the runbook of no alert in %s", f, alertsFile)
		}
	}
}

// TestAlertsAreUnitTested checks that promtool-tests.yaml, which promtool
// runs, has for every alert a case where it fires and one where it does not.
func TestAlertsAreUnitTested(t *testing.T) {
	data, err := os.ReadFile(ruleTestsFile)
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		RuleFiles []string `yaml:"rule_files"`
		Tests     []struct {
			Name  string `yaml:"name"`
			Cases []struct {
				Alertname string `yaml:"alertname"`
				ExpAlerts []any  `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		} `yaml:"tests"`
	}
	if err := yaml.Unmarshal(data, &f); err != nil {
		t.Fatalf("%s: %v", ruleTestsFile, err)
	}
	if want := []string{filepath.Base(alertsFile)}; !slices.Equal(f.RuleFiles, want) {
		t.Errorf("rule_files = %q, want %q", f.RuleFiles, want)
	}
	fires, quiet := map[string]bool{}, map[string]bool{}
	for _, tc := range f.Tests {
		for _, c := range tc.Cases {
			if len(c.ExpAlerts) > 0 {
				fires[c.Alertname] = true
			} else {
				quiet[c.Alertname] = true
			}
		}
	}
	alerts := map[string]bool{}
	for _, r := range loadAlerts(t) {
		alerts[r.Alert] = true
		if !fires[r.Alert] {
			t.Errorf("%s has no case where %s fires", ruleTestsFile, r.Alert)
		}
		if !quiet[r.Alert] {
			t.Errorf("%s has no case where %s does not fire", ruleTestsFile, r.Alert)
		}
	}
	for name := range fires {
		if !alerts[name] {
			t.Errorf("%s tests %s, which is not an alert of %s", ruleTestsFile, name, alertsFile)
		}
	}
	for name := range quiet {
		if !alerts[name] {
			t.Errorf("%s tests %s, which is not an alert of %s", ruleTestsFile, name, alertsFile)
		}
	}
}

func TestDashboardPanels(t *testing.T) {
	d := loadDashboard(t)
	if d.UID == "" || d.Title == "" {
		t.Errorf("uid = %q, title = %q, want both set", d.UID, d.Title)
	}
	if d.SchemaVersion < 36 {
		t.Errorf("schemaVersion = %d, want 36 or newer", d.SchemaVersion)
	}
	if len(d.Inputs) != 1 || d.Inputs[0].Name != "DS_PROMETHEUS" || d.Inputs[0].PluginID != "prometheus" {
		t.Errorf("__inputs = %+v, want the one Prometheus data source DS_PROMETHEUS", d.Inputs)
	}
	hasInstance := false
	for _, v := range d.Templating.List {
		if v.Name == "instance" {
			hasInstance = true
			checkDatasource(t, "variable instance", v.Datasource)
		}
	}
	if !hasInstance {
		t.Error("no template variable instance")
	}

	var rows []string
	ids := map[int]bool{}
	for _, p := range d.panels() {
		if ids[p.ID] {
			t.Errorf("panel id %d is used twice", p.ID)
		}
		ids[p.ID] = true
		if p.Type == "row" {
			rows = append(rows, p.Title)
			continue
		}
		name := "panel " + p.Title
		checkDatasource(t, name, p.Datasource)
		if len(p.Targets) == 0 {
			t.Errorf("%s has no target", name)
		}
		for _, tg := range p.Targets {
			if strings.TrimSpace(tg.Expr) == "" {
				t.Errorf("%s target %s has no expression", name, tg.RefID)
			}
			checkDatasource(t, name+" target "+tg.RefID, tg.Datasource)
		}
	}
	if want := []string{"Overview", "Messaging", "Queues", "API", "Push", "Webhooks", "Store"}; !slices.Equal(rows, want) {
		t.Errorf("rows = %q, want %q", rows, want)
	}
}

// checkDatasource reports a data source that is not the dashboard's
// Prometheus input.
func checkDatasource(t *testing.T, what string, ds *dashDatasource) {
	t.Helper()
	if ds == nil || ds.Type != "prometheus" || ds.UID != "${DS_PROMETHEUS}" {
		t.Errorf("%s: datasource = %+v, want prometheus ${DS_PROMETHEUS}", what, ds)
	}
}

var magpieMetric = regexp.MustCompile(`\bmagpie_[a-zA-Z0-9_:]*`)

// TestMonitoringUsesOnlyServerMetrics checks every magpie_ metric in the
// alerts' and the dashboard's expressions against serverMetrics.
func TestMonitoringUsesOnlyServerMetrics(t *testing.T) {
	exprs := map[string]string{} // where → expression
	for _, r := range loadAlerts(t) {
		exprs["alert "+r.Alert] = r.Expr
	}
	d := loadDashboard(t)
	for _, p := range d.panels() {
		for _, tg := range p.Targets {
			exprs["panel "+p.Title+" target "+tg.RefID] = tg.Expr
		}
	}
	for _, v := range d.Templating.List {
		exprs["variable "+v.Name] = v.Definition
	}

	used := map[string]bool{}
	for where, expr := range exprs {
		for _, name := range magpieMetric.FindAllString(expr, -1) {
			base := metricBase(name)
			if !slices.Contains(serverMetrics, base) {
				t.Errorf("%s uses %s, which the server does not expose (serverMetrics)", where, name)
			}
			used[base] = true
		}
	}
	// Not a requirement, but a metric no panel shows is probably an oversight.
	for _, m := range serverMetrics {
		if !used[m] {
			t.Logf("no alert or panel uses %s", m)
		}
	}
}

// metricBase strips a histogram's series suffix from name, if the rest is
// a known metric.
func metricBase(name string) string {
	if slices.Contains(serverMetrics, name) {
		return name
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok {
			return base
		}
	}
	return name
}

func TestMetricBase(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"magpie_delivery_latency_seconds_bucket", "magpie_delivery_latency_seconds"},
		{"magpie_api_request_duration_seconds_count", "magpie_api_request_duration_seconds"},
		{"magpie_api_request_duration_seconds_sum", "magpie_api_request_duration_seconds"},
		{"magpie_connections", "magpie_connections"},
		{"magpie_unknown_total", "magpie_unknown_total"},
	} {
		if got := metricBase(tc.in); got != tc.want {
			t.Errorf("metricBase(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestServerExposesEveryListedMetric ties serverMetrics to the server's
// instruments: with one observation of each recorded through package
// telemetry (which gateways, workers and embedded mode share), every listed
// name is on the exposition, and nothing named magpie_ is missing from the
// list.
func TestServerExposesEveryListedMetric(t *testing.T) {
	m, err := telemetry.New(telemetry.Config{Mode: telemetry.ModeGateway, Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = m.Shutdown(context.Background()) }() // the test is over
	m.CountConnections(func() int { return 1 })
	m.Login("ok")
	m.FramesIn(1)
	m.FramesOut(1, 1)
	m.MessagesAccepted(1)
	m.MessageDelivered()
	m.MessageStoredOffline()
	m.DeliveryLatency(time.Millisecond)
	m.APIRequest("/v1/users", http.StatusOK, time.Millisecond)
	m.RateLimited(telemetry.LimitAPI)
	m.Queue("offline")
	m.BusJob("offline", telemetry.JobOK)
	m.BusPublish("offline", true)
	m.BusJobLag("offline", time.Second)
	m.CountQueueDepth(func(context.Context) map[string]int64 { return map[string]int64{"offline": 1} })
	m.CountSearchQueue(func(context.Context) (int64, error) { return 1, nil })
	m.OfflineNotificationDropped()
	m.Ready("store", true)
	m.PushProviders("fcm")
	m.PushSend("fcm", telemetry.PushSent, time.Millisecond, time.Second)
	m.PushNotification(telemetry.NotifQueued)
	m.PushFailure("fcm", "UNREGISTERED", true)
	m.StoreOp("GetUser", time.Millisecond, true)
	m.PresendHook(telemetry.VerdictAllow, time.Millisecond)
	m.ModerationVerdict(telemetry.ModerationKeyword, telemetry.VerdictAllow)
	m.WebhookDelivery(telemetry.WebhookSucceeded, time.Millisecond)
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	exposed := map[string]bool{}
	for _, line := range strings.Split(rec.Body.String(), "\n") {
		if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			name, _, _ := strings.Cut(rest, " ")
			exposed[name] = true
		}
	}
	for _, name := range serverMetrics {
		if !exposed[name] {
			t.Errorf("%s is listed for the alerts and dashboard but the server does not expose it", name)
		}
		delete(exposed, name)
	}
	for name := range exposed {
		if strings.HasPrefix(name, "magpie_") {
			t.Errorf("the server exposes %s, which serverMetrics does not list", name)
		}
	}
}
