package orchestrator

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/runtime/core"
	"github.com/avtomatika-ai/avtomatika-go/runtime/store"
)

// Webhooks are delivered from an outbox in the store: the commit that
// ends a job also arms a webhook timer due at once, so the delivery is
// recorded atomically with the end. The timer loop claims it (exactly one
// instance does), and before each try arms the next try's timer, due after
// the try's timeout and its backoff: an instance killed during a try
// leaves that timer, and another instance tries again. A delivered webhook
// disarms it. Delivery is at least once; the Idempotency-Key header is
// the same on every try, so an endpoint can drop repeats.
//
// Each try is signed when a secret is configured (the client's
// webhook_secret in clients.toml, else WEBHOOK_SECRET):
//
//	X-Avtomatika-Timestamp: <Unix seconds of the try>
//	X-Avtomatika-Signature: v1=<hex HMAC-SHA256(secret, timestamp + "." + body)>
//
// After WEBHOOK_MAX_ATTEMPTS tries the delivery fails: a webhook_failed
// entry on the job's timeline says so, as webhook_delivered says a
// success.

// eventWebhook is the kind of a webhook timer's event; the engine never
// sees it.
const eventWebhook core.EventKind = "webhook"

// Webhook header names.
const (
	HeaderWebhookTimestamp = "X-Avtomatika-Timestamp"
	HeaderWebhookSignature = "X-Avtomatika-Signature"
	HeaderIdempotencyKey   = "Idempotency-Key"
)

// Webhook outcomes, as the Observer hears them.
const (
	WebhookDelivered = "delivered" // a 2xx answer
	WebhookRetrying  = "retrying"  // a try failed; another follows
	WebhookFailed    = "failed"    // the last try failed
)

// maxWebhooksInFlight bounds the tries an instance runs at once; the
// timer loop waits for a place.
const maxWebhooksInFlight = 64

// SignWebhook is the signature header's value for a body sent at ts.
func SignWebhook(secret string, ts int64, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(strconv.FormatInt(ts, 10)))
	mac.Write([]byte("."))
	mac.Write(body)
	return "v1=" + hex.EncodeToString(mac.Sum(nil))
}

func webhookTimerID(jobID string) string { return "webhook:" + jobID }

// outboxWebhook adds the first try's timer to the effects of the commit
// that ends a job with a webhook URL.
func (x *Orchestrator) outboxWebhook(j *core.Job, eff *core.Effects) {
	if eff.Notify == nil || j.WebhookURL == "" {
		return
	}
	eff.Timers = append(eff.Timers, core.Timer{ID: webhookTimerID(j.ID), JobID: j.ID, At: x.now(),
		Event: core.Event{Kind: eventWebhook, Reason: eff.Notify.Event, Data: map[string]any{"attempt": 1}}})
}

// notify logs a job's end; its webhook is in the outbox.
func (x *Orchestrator) notify(j *core.Job, _ *core.Notification) {
	x.log.Debug("job ended", "job", j.ID, "blueprint", j.Blueprint, "status", j.Status)
}

// webhookBackoff is the wait after failed try n (1-based): the base
// doubling, up to an hour.
func (x *Orchestrator) webhookBackoff(n int) time.Duration {
	d := x.hookBackoff
	for i := 1; i < n && d < time.Hour; i++ {
		d *= 2
	}
	return min(d, time.Hour)
}

// fireWebhook runs one claimed webhook timer: it arms the next try (the
// lease of this one), then tries off the timer loop's goroutine.
func (x *Orchestrator) fireWebhook(ctx context.Context, t core.Timer) error {
	attempt := 1
	switch n := t.Event.Data["attempt"].(type) {
	case int:
		attempt = n
	case float64:
		attempt = int(n)
	case json.Number:
		if v, err := n.Int64(); err == nil {
			attempt = int(v)
		}
	}
	j, err := x.store.GetJob(ctx, t.JobID)
	if errors.Is(err, store.ErrNotFound) {
		return nil // the job is gone, and its webhook with it
	}
	if err != nil {
		return err
	}
	max := x.cfg.WebhookMaxAttempts
	if max <= 0 {
		max = 8
	}
	timeout := x.cfg.WebhookTimeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	next := core.Timer{ID: webhookTimerID(j.ID), JobID: j.ID, At: x.now().Add(timeout + x.webhookBackoff(attempt)),
		Event: core.Event{Kind: eventWebhook, Reason: t.Event.Reason, Data: map[string]any{"attempt": attempt + 1}}}
	if attempt > max {
		// The last try's lease ran out with no outcome recorded (the
		// instance died): the delivery failed.
		x.webhookOutcome(ctx, j.ID, attempt-1, WebhookFailed, "no answer recorded for the last try", nil)
		return nil
	}
	if err := x.commitOutbox(ctx, j.ID, &core.Effects{Timers: []core.Timer{next}}); err != nil {
		return err
	}
	select {
	case x.hookSem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	x.hooks.Add(1)
	go func() {
		defer func() { <-x.hookSem; x.hooks.Done() }()
		errText := x.postWebhook(j, t.Event.Reason, timeout)
		// The outcome is recorded even while the instance drains.
		rctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		switch {
		case errText == "":
			x.webhookOutcome(rctx, j.ID, attempt, WebhookDelivered, "", []string{next.ID})
		case attempt >= max:
			x.webhookOutcome(rctx, j.ID, attempt, WebhookFailed, errText, []string{next.ID})
		default:
			// Try again after the backoff instead of the lease's end.
			retry := next
			retry.At = x.now().Add(x.webhookBackoff(attempt))
			x.log.Info("webhook try failed; retrying", "job", j.ID, "attempt", attempt, "in", x.webhookBackoff(attempt), "err", errText)
			if err := x.commitOutbox(rctx, j.ID, &core.Effects{Timers: []core.Timer{retry}}); err != nil && !errors.Is(err, store.ErrNotFound) {
				x.log.Warn("webhook retry: the lease's timer stays", "job", j.ID, "err", err)
			}
			x.obs.WebhookDelivery(j, WebhookRetrying)
		}
	}()
	return nil
}

// postWebhook makes one try; "" is a 2xx answer, else what went wrong.
func (x *Orchestrator) postWebhook(j *core.Job, event string, timeout time.Duration) string {
	body := map[string]any{"event": event, "job_id": j.ID, "status": j.Status, "result": j.History, "metadata": j.Metadata, "timestamp": j.UpdatedAt.Unix()}
	if body["result"] == nil {
		body["result"] = map[string]any{}
	}
	if j.Error != nil {
		body["error"] = j.Error.Message
	}
	if body["metadata"] == nil {
		delete(body, "metadata")
	}
	b, err := json.Marshal(body)
	if err != nil {
		return err.Error()
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, j.WebhookURL, bytes.NewReader(b))
	if err != nil {
		return err.Error()
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(HeaderIdempotencyKey, j.ID+":"+event)
	if secret := x.webhookSecret(j); secret != "" {
		ts := x.now().Unix()
		req.Header.Set(HeaderWebhookTimestamp, strconv.FormatInt(ts, 10))
		req.Header.Set(HeaderWebhookSignature, SignWebhook(secret, ts, b))
	}
	resp, err := x.hookClient.Do(req)
	if err != nil {
		return err.Error()
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return "HTTP " + resp.Status
	}
	return ""
}

func (x *Orchestrator) webhookSecret(j *core.Job) string {
	if x.hookSecret != nil {
		if s := x.hookSecret(j.Client.Name); s != "" {
			return s
		}
	}
	return x.cfg.WebhookSecret
}

// webhookOutcome records a delivery's end on the job's timeline and
// disarms the next try.
func (x *Orchestrator) webhookOutcome(ctx context.Context, jobID string, attempt int, outcome, errText string, disarm []string) {
	j, err := x.store.GetJob(ctx, jobID)
	if err != nil {
		x.log.Warn("webhook outcome not recorded", "job", jobID, "outcome", outcome, "err", err)
		return
	}
	detail := map[string]any{"url": j.WebhookURL, "attempts": attempt}
	if errText != "" {
		detail["error"] = errText
	}
	typ := "webhook_" + outcome
	eff := &core.Effects{CancelTimers: disarm, Timeline: []core.TimelineEvent{{At: x.now(), Type: typ, Detail: detail}}}
	if err := x.commitOutbox(ctx, jobID, eff); err != nil {
		x.log.Warn("webhook outcome not recorded", "job", jobID, "outcome", outcome, "err", err)
		return
	}
	if outcome == WebhookFailed {
		x.log.Warn("webhook not delivered", "job", jobID, "url", j.WebhookURL, "attempts", attempt, "err", errText)
	}
	x.obs.WebhookDelivery(j, outcome)
}

// commitOutbox commits effects over a job that ended, unchanged but for
// its revision, retrying a lost race.
func (x *Orchestrator) commitOutbox(ctx context.Context, jobID string, eff *core.Effects) error {
	for try := 0; ; try++ {
		j, err := x.store.GetJob(ctx, jobID)
		if err != nil {
			return err
		}
		_, err = x.store.CommitIfVersion(ctx, store.CommitParams{Job: j, ExpectRev: j.Rev, Effects: eff})
		x.jobs.drop(jobID)
		if errors.Is(err, store.ErrConflict) && try < maxCommitTries {
			continue
		}
		if err != nil {
			return fmt.Errorf("webhook outbox of job %s: %w", jobID, err)
		}
		return nil
	}
}
