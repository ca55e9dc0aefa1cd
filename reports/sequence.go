package reports

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/invariants"
)

// A counterexample's sequence diagram: a lane per participant (producer, db, relay, broker,
// consumer-1..n, gateway, in that order, only those the history uses) and a row per line of the
// text timeline, numbered as it is, so the diagram and the numbered list under it match.
//
// Each event is an arrow between lanes or a mark on its own lane:
//
//	insert, outbox, claim, mark, commit, rollback, check, inbox, record, apply, read, advance, begin
//	                                  process -> db
//	publish                           producer or relay -> broker
//	confirm                           broker -> producer or relay (the confirm awaited)
//	deliver (broker)                  broker -> the consumer it went to (the event's To)
//	receive                           a box on the consumer's lane; broker -> consumer when the
//	                                  history records no deliveries (the real backend)
//	ack, nack                         consumer -> broker
//	send (gateway)                    the consumer that called (the event's From; when the
//	                                  history does not say, as the real gateway's does not, the
//	                                  consumer that applies the message) -> gateway
//	FAULT, HEAL, quiesce              a band across the lanes
//	CRASH, RESTART                    a cross or a circle on the process's lane
//	anything else                     a box on its process's lane
//
// A failed call is drawn red, an unknown outcome dashed; the effects markEffects marks sit on a
// highlighted row with the text timeline's marker beside them.

const (
	seqFont    = 14.0
	seqCharW   = seqFont * 0.62
	seqLaneGap = 176.0
	seqLeft    = 120.0 // the number and time column
	seqHeadY   = 8.0
	seqHeadH   = 30.0
	seqRowH    = 30.0
	seqMinRowH = 24.0
	seqMaxH    = 2400.0 // rows shrink towards seqMinRowH to keep long diagrams under this
)

// Step kinds: how an event is drawn.
const (
	stepArrow   = "arrow"
	stepBox     = "box"
	stepBand    = "band"
	stepCrash   = "crash"
	stepRestart = "restart"
)

// step is what one event draws, before layout.
type step struct {
	kind     string
	from, to string // lanes: an arrow's ends, or a mark's lane (from)
	style    string // arrow: call, reply, fail, unknown; band: fault, heal, quiet
	label    string
}

// seqDBOps are the operations a process performs against the database.
var seqDBOps = []string{
	history.OpBegin, history.OpInsert, history.OpOutbox, history.OpClaim, history.OpMark,
	history.OpCommit, history.OpRollback, history.OpCheck, history.OpInbox, history.OpRecord,
	history.OpApply, history.OpRead, history.OpAdvance,
}

// stepOf maps events[i] to what the diagram draws for it. delivers says whether the history
// records the broker's deliveries.
func stepOf(events []history.Event, i int, delivers bool) step {
	e := events[i]
	label := e.Op
	if e.Msg != "" {
		label += " " + e.Msg
	}
	switch e.Outcome {
	case history.Fail, history.Unknown:
		label += " " + string(e.Outcome)
	}
	switch e.Op {
	case history.OpFault:
		return step{kind: stepBand, from: e.Proc, style: "fault", label: "FAULT"}
	case history.OpHeal:
		return step{kind: stepBand, from: e.Proc, style: "heal", label: "HEAL"}
	case history.OpCrash:
		return step{kind: stepCrash, from: e.Proc, style: "fault", label: "CRASH"}
	case history.OpRestart:
		return step{kind: stepRestart, from: e.Proc, style: "fault", label: "RESTART"}
	}
	if e.Proc == "harness" {
		return step{kind: stepBand, from: e.Proc, style: "quiet", label: e.Op}
	}
	arrow := func(from, to, style string) step {
		switch e.Outcome {
		case history.Fail:
			style = "fail"
		case history.Unknown:
			style = "unknown"
		}
		return step{kind: stepArrow, from: from, to: to, style: style, label: label}
	}
	switch {
	case e.Proc == "broker" && e.Op == history.OpDeliver:
		if e.To != "" {
			return arrow("broker", e.To, "reply")
		}
	case e.Proc == "gateway" && e.Op == history.OpSend:
		if from := cmp.Or(e.From, senderOf(events, i)); from != "" {
			return arrow(from, "gateway", "call")
		}
	case e.Proc == "broker" || e.Proc == "gateway":
	case slices.Contains(seqDBOps, e.Op):
		return arrow(e.Proc, "db", "call")
	case e.Op == history.OpPublish, e.Op == history.OpAck, e.Op == history.OpNack:
		return arrow(e.Proc, "broker", "call")
	case e.Op == history.OpConfirm:
		return arrow("broker", e.Proc, "reply")
	case e.Op == history.OpReceive && !delivers:
		return arrow("broker", e.Proc, "reply")
	}
	return step{kind: stepBox, from: e.Proc, style: "box", label: label}
}

// senderOf guesses the consumer that made the gateway send at events[i], for a history that does
// not record it: the next consumer to record an apply of the message (the call happens inside
// the apply), else the last consumer that touched the message before it.
func senderOf(events []history.Event, i int) string {
	id := events[i].Msg
	consumer := func(e history.Event) bool {
		return strings.HasPrefix(e.Proc, "consumer") && e.Msg == id
	}
	for _, e := range events[i+1:] {
		if consumer(e) && e.Op == history.OpApply {
			return e.Proc
		}
	}
	for j := i - 1; j >= 0; j-- {
		if consumer(events[j]) {
			return events[j].Proc
		}
	}
	return ""
}

// laneRank orders lanes: producer, db, relay, broker, consumers by number, gateway, the rest.
func laneRank(name string) (int, int) {
	switch name {
	case "producer":
		return 0, 0
	case "db":
		return 1, 0
	case "relay":
		return 2, 0
	case "broker":
		return 3, 0
	case "gateway":
		return 5, 0
	}
	if n, ok := strings.CutPrefix(name, "consumer-"); ok {
		if k, err := strconv.Atoi(n); err == nil {
			return 4, k
		}
	}
	return 6, 0
}

// lanesOf lists the lanes steps use, in lane order. The harness is no lane: its events are bands.
func lanesOf(steps []step) []string {
	var lanes []string
	add := func(l string) {
		if l != "" && l != "harness" && !slices.Contains(lanes, l) {
			lanes = append(lanes, l)
		}
	}
	for _, s := range steps {
		add(s.from)
		add(s.to)
	}
	slices.SortFunc(lanes, func(a, b string) int {
		ra, ka := laneRank(a)
		rb, kb := laneRank(b)
		return cmp.Or(cmp.Compare(ra, rb), cmp.Compare(ka, kb), strings.Compare(a, b))
	})
	return lanes
}

// seqDiagram is a laid-out sequence diagram: what the "sequence" template draws.
type seqDiagram struct {
	Desc          string
	Width, Height float64
	LaneTop       float64 // where the lifelines start
	LaneBottom    float64 // where they end
	HeadY, FootY  float64 // the lane heads, repeated at the foot of a long diagram
	HeadH         float64
	Foot          bool
	BandX, BandW  float64 // the span of the bands across the lanes
	NotesX        float64
	Lanes         []seqLane
	Rows          []seqRow
}

// seqLane is a participant: its lifeline at X, its head box from HeadX, HeadW wide.
type seqLane struct {
	Name         string
	X            float64
	HeadX, HeadW float64
}

// seqRow is one numbered line of the diagram.
type seqRow struct {
	N      int
	Anchor string // the id of the matching item of the event list
	Top, H float64
	MidY   float64 // the row's middle
	TextY  float64 // the baseline of the row's texts
	Time   string
	Tip    string // the text timeline's line
	Kind   string
	Style  string
	Label  string
	X1, X2 float64 // an arrow's ends; a mark's lane is X1
	LineY  float64 // the arrow's line
	LabelX float64 // the label's centre (arrows, boxes, bands) or start (crash, restart)
	LabelY float64 // an arrow's label baseline, above its line
	BoxX   float64
	BoxY   float64
	BoxW   float64
	BoxH   float64
	Head   string // the arrowhead's points
	Cross  string // the crash mark's path
	Note   string // the detail and the repeat count
	Mark   string // the effect's marker
	Marked bool
}

// sequenceDiagram lays out the diagram of a history. anchor prefixes the ids of the event list's
// items ("ce-1-ev"), to which each row's number links; rows holds the text timeline's lines.
func sequenceDiagram(h *history.History, vs []invariants.Violation, anchor string) *seqDiagram {
	if h == nil || len(h.Events) == 0 {
		return nil
	}
	events := h.Events
	delivers := slices.ContainsFunc(events, func(e history.Event) bool { return e.Op == history.OpDeliver })
	lines := timelineLines(events, markEffects(events, vs))
	steps := make([]step, len(lines))
	for k, l := range lines {
		steps[k] = stepOf(events, l.event, delivers)
	}
	d := &seqDiagram{HeadY: seqHeadY, HeadH: seqHeadH}
	names := lanesOf(steps)
	x := map[string]float64{}
	for i, n := range names {
		x[n] = seqLeft + seqLaneGap/2 + float64(i)*seqLaneGap
		d.Lanes = append(d.Lanes, seqLane{Name: n, X: x[n], HeadX: x[n] - seqLaneGap/2 + 10, HeadW: seqLaneGap - 20})
	}
	lastX := seqLeft + seqLaneGap/2 + float64(max(len(names)-1, 0))*seqLaneGap
	d.BandX = seqLeft + 4
	d.BandW = lastX + seqLaneGap/2 - 4 - d.BandX
	d.NotesX = lastX + seqLaneGap/2 + 10
	d.Desc = fmt.Sprintf("Sequence diagram: %s across %s", plural(len(lines), "numbered line"), strings.Join(names, ", "))

	rowH := max(seqMinRowH, min(seqRowH, seqMaxH/float64(len(lines))))
	d.LaneTop = seqHeadY + seqHeadH
	top := d.LaneTop + 10
	notesW := 0.0
	rendered := TimelineRows(lines)
	for k, l := range lines {
		r := layoutRow(steps[k], x, seqLeft+seqLaneGap/2, top+rowH/2)
		r.N, r.Anchor = l.Num, fmt.Sprintf("%s%d", anchor, l.Num)
		r.Top, r.H = top, rowH
		r.Time = "t=" + strconv.FormatInt(l.Time, 10)
		r.Tip = strings.TrimSpace(rendered[k])
		r.Note = noteOf(l)
		if m := l.Marker(); m != "" {
			r.Marked = true
			r.Mark = "<== " + m
		}
		notesW = max(notesW, textWidth(strings.TrimSpace(r.Note+"   "+r.Mark), seqCharW))
		d.Rows = append(d.Rows, r)
		top += rowH
	}
	d.LaneBottom = top + 8
	d.Foot = len(lines) > 15
	d.Height = d.LaneBottom + 8
	if d.Foot {
		d.FootY = d.LaneBottom
		d.Height = d.FootY + seqHeadH + 8
	}
	d.Width = d.NotesX + max(notesW, 40) + 16
	return d
}

// noteOf is what the notes column says of a line besides its marker: the detail and the count.
func noteOf(l TimelineLine) string {
	var parts []string
	if r := l.rest(); r != "" {
		parts = append(parts, r)
	}
	if l.Count > 1 {
		parts = append(parts, fmt.Sprintf("(x%d)", l.Count))
	}
	return strings.Join(parts, "  ")
}

// layoutRow places a step on a row whose middle is at y; a band of no lane labels itself at
// fallback.
func layoutRow(s step, x map[string]float64, fallback, y float64) seqRow {
	r := seqRow{Kind: s.kind, Style: s.style, Label: s.label, MidY: y, TextY: y + 5, BoxY: y - 11, BoxH: 22}
	from, okFrom := x[s.from]
	to, okTo := x[s.to]
	switch s.kind {
	case stepArrow:
		if !okFrom || !okTo || from == to {
			r.Kind, r.Style = stepBox, "box"
			break
		}
		r.X1, r.X2, r.LineY = from, to, y+6
		r.LabelX, r.LabelY = (from+to)/2, y+1
		dir := 1.0
		if to < from {
			dir = -1
		}
		r.Head = fmt.Sprintf("%s,%s %s,%s %s,%s", num(to), num(r.LineY), num(to-dir*11), num(r.LineY-5), num(to-dir*11), num(r.LineY+5))
		return r
	case stepBand:
		r.LabelX = from
		if !okFrom {
			r.LabelX = fallback
		}
		return r
	case stepCrash:
		r.X1, r.LabelX = from, from+14
		r.Cross = fmt.Sprintf("M%s %sL%s %sM%s %sL%s %s", num(from-7), num(y-7), num(from+7), num(y+7), num(from+7), num(y-7), num(from-7), num(y+7))
		return r
	case stepRestart:
		r.X1, r.LabelX = from, from+14
		return r
	}
	r.X1, r.LabelX = from, from
	r.BoxW = textWidth(r.Label, seqCharW) + 16
	r.BoxX = from - r.BoxW/2
	return r
}
