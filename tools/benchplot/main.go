// Command benchplot draws the latency-versus-rate plot of docs/benchmarks.md
// from `magpie bench ramp --json` results: for each file, p50 and p99
// end-to-end latency (log scale) and delivered messages per second against
// the offered rate, one PNG. It is a module of its own so that the product
// never links its font package.
//
//	go run . -o ../../docs/img/latency-vs-rate.png -title "magpie dev, 1,000 users" embedded=ramp.json
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"math"
	"os"
	"strings"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// step is what the plot reads of a ramp step (loadgen.Result).
type step struct {
	OfferedRate float64 `json:"offered_rate"`
	RatePerS    float64 `json:"rate_per_s"`
	P50Ms       float64 `json:"p50_ms"`
	P99Ms       float64 `json:"p99_ms"`
	Held        bool    `json:"held"`
}

type series struct {
	name  string
	steps []step
}

func main() {
	out := flag.String("o", "latency-vs-rate.png", "output PNG")
	title := flag.String("title", "one-to-one, magpie bench ramp", "plot title")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: benchplot [-o out.png] [-title T] [name=]ramp.json ...")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	if flag.NArg() > 4 {
		fmt.Fprintln(os.Stderr, "benchplot: at most 4 result files")
		os.Exit(2)
	}
	var all []series
	for _, arg := range flag.Args() {
		name, path, ok := strings.Cut(arg, "=")
		if !ok {
			name, path = strings.TrimSuffix(arg, ".json"), arg
		}
		s, err := load(name, path)
		if err != nil {
			fmt.Fprintln(os.Stderr, "benchplot:", err)
			os.Exit(1)
		}
		all = append(all, s)
	}
	img := plot(*title, all)
	f, err := os.Create(*out)
	if err == nil {
		err = png.Encode(f, img)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchplot:", err)
		os.Exit(1)
	}
}

// load reads a ramp result (its steps) or a single run.
func load(name, path string) (series, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return series{}, err
	}
	var r struct {
		step
		Steps []step `json:"steps"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return series{}, fmt.Errorf("%s: %w", path, err)
	}
	s := series{name: name, steps: r.Steps}
	if len(s.steps) == 0 {
		s.steps = []step{r.step}
	}
	return s, nil
}

const (
	width, height = 1280, 560
	plotH         = 390
	panelW        = 520
	margin        = 70
)

var (
	ink     = color.RGBA{0x22, 0x22, 0x22, 0xff}
	grid    = color.RGBA{0xdd, 0xdd, 0xdd, 0xff}
	palette = []color.RGBA{
		{0x1f, 0x77, 0xb4, 0xff}, {0xd6, 0x27, 0x28, 0xff}, {0x2c, 0xa0, 0x2c, 0xff}, {0x94, 0x67, 0xbd, 0xff},
	}
)

// plot draws two panels: latency (p50 solid, p99 dashed; log scale) and
// delivered/s, both against the offered rate. Failed steps are drawn
// hollow.
func plot(title string, all []series) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, width, height))
	draw.Draw(img, img.Bounds(), image.White, image.Point{}, draw.Src)
	text(img, margin, 24, title, ink)

	maxRate := 1.0
	minLat, maxLat := math.Inf(1), 1.0
	for _, s := range all {
		for _, st := range s.steps {
			maxRate = max(maxRate, st.OfferedRate, st.RatePerS)
			for _, v := range []float64{st.P50Ms, st.P99Ms} {
				if v > 0 {
					minLat, maxLat = min(minLat, v), max(maxLat, v)
				}
			}
		}
	}
	if math.IsInf(minLat, 1) {
		minLat = 0.1
	}
	lo, hi := math.Floor(math.Log10(minLat)), math.Ceil(math.Log10(maxLat))
	if hi <= lo {
		hi = lo + 1
	}
	xmax := niceCeil(maxRate)

	// Left panel: latency.
	l := panel{x0: margin, y0: 50, w: panelW, h: plotH}
	l.frame(img)
	for e := lo; e <= hi; e++ {
		y := l.y0 + l.h - int((e-lo)/(hi-lo)*float64(l.h))
		hline(img, l.x0, l.x0+l.w, y, grid)
		text(img, l.x0-55, y+4, fmt.Sprintf("%g ms", math.Pow(10, e)), ink)
	}
	l.xaxis(img, xmax, "offered msgs/s")
	text(img, l.x0, l.y0-8, "end-to-end latency: p50 solid, p99 dashed (log scale)", ink)
	ly := func(v float64) int {
		return l.y0 + l.h - int((math.Log10(v)-lo)/(hi-lo)*float64(l.h))
	}

	// Right panel: delivered per second.
	r := panel{x0: margin + panelW + 110, y0: 50, w: panelW, h: plotH}
	r.frame(img)
	for i := 0; i <= 4; i++ {
		v := xmax * float64(i) / 4
		y := r.y0 + r.h - int(v/xmax*float64(r.h))
		hline(img, r.x0, r.x0+r.w, y, grid)
		text(img, r.x0-60, y+4, fmt.Sprintf("%.0f", v), ink)
	}
	r.xaxis(img, xmax, "offered msgs/s")
	text(img, r.x0, r.y0-8, "delivered msgs/s (grey: delivered = offered)", ink)
	line(img, r.x0, r.y0+r.h, r.x0+r.w, r.y0, grid, false)
	ry := func(v float64) int { return r.y0 + r.h - int(v/xmax*float64(r.h)) }

	for i, s := range all {
		c := palette[i%len(palette)]
		var p50, p99, got []image.Point
		for _, st := range s.steps {
			x := l.x0 + int(st.OfferedRate/xmax*float64(l.w))
			rx := r.x0 + int(st.OfferedRate/xmax*float64(r.w))
			if st.P50Ms > 0 {
				p50 = append(p50, image.Pt(x, ly(st.P50Ms)))
				mark(img, x, ly(st.P50Ms), c, st.Held)
			}
			if st.P99Ms > 0 {
				p99 = append(p99, image.Pt(x, ly(st.P99Ms)))
				mark(img, x, ly(st.P99Ms), c, st.Held)
			}
			got = append(got, image.Pt(rx, ry(st.RatePerS)))
			mark(img, rx, ry(st.RatePerS), c, st.Held)
		}
		polyline(img, p50, c, false)
		polyline(img, p99, c, true)
		polyline(img, got, c, false)
		text(img, margin+(i%2)*600, height-30+(i/2)*13, "-- "+s.name, c)
	}
	text(img, margin, height-4, "filled points: the step held; hollow: it did not", ink)
	return img
}

type panel struct{ x0, y0, w, h int }

func (p panel) frame(img *image.RGBA) {
	hline(img, p.x0, p.x0+p.w, p.y0+p.h, ink)
	line(img, p.x0, p.y0, p.x0, p.y0+p.h, ink, false)
}

func (p panel) xaxis(img *image.RGBA, xmax float64, label string) {
	for i := 0; i <= 4; i++ {
		v := xmax * float64(i) / 4
		x := p.x0 + int(v/xmax*float64(p.w))
		line(img, x, p.y0+p.h, x, p.y0+p.h+5, ink, false)
		text(img, x-16, p.y0+p.h+20, fmt.Sprintf("%.0f", v), ink)
	}
	text(img, p.x0+p.w/2-50, p.y0+p.h+40, label, ink)
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	e := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*e >= v {
			return m * e
		}
	}
	return 10 * e
}

func text(img *image.RGBA, x, y int, s string, c color.Color) {
	d := font.Drawer{Dst: img, Src: image.NewUniform(c), Face: basicfont.Face7x13, Dot: fixed.P(x, y)}
	d.DrawString(s)
}

func hline(img *image.RGBA, x0, x1, y int, c color.Color) {
	for x := x0; x <= x1; x++ {
		img.Set(x, y, c)
	}
}

// line draws a straight line (Bresenham), dashed if asked.
func line(img *image.RGBA, x0, y0, x1, y1 int, c color.Color, dashed bool) {
	dx, dy := abs(x1-x0), -abs(y1-y0)
	sx, sy := sign(x1-x0), sign(y1-y0)
	e, n := dx+dy, 0
	for {
		if !dashed || (n/6)%2 == 0 {
			img.Set(x0, y0, c)
			img.Set(x0, y0+1, c)
		}
		n++
		if x0 == x1 && y0 == y1 {
			return
		}
		e2 := 2 * e
		if e2 >= dy {
			e += dy
			x0 += sx
		}
		if e2 <= dx {
			e += dx
			y0 += sy
		}
	}
}

func polyline(img *image.RGBA, ps []image.Point, c color.Color, dashed bool) {
	for i := 1; i < len(ps); i++ {
		line(img, ps[i-1].X, ps[i-1].Y, ps[i].X, ps[i].Y, c, dashed)
	}
}

// mark draws a step's point: filled if it held, hollow if not.
func mark(img *image.RGBA, x, y int, c color.Color, filled bool) {
	for dx := -4; dx <= 4; dx++ {
		for dy := -4; dy <= 4; dy++ {
			edge := abs(dx) == 4 || abs(dy) == 4
			if filled || edge {
				img.Set(x+dx, y+dy, c)
			}
		}
	}
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

func sign(v int) int {
	switch {
	case v > 0:
		return 1
	case v < 0:
		return -1
	}
	return 0
}
