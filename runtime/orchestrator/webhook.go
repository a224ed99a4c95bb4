package orchestrator

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/runtime/core"
)

// notify posts the job's webhook on every terminal status (job_finished,
// job_failed, job_quarantined, job_cancelled): 10 s timeout, 3 tries with
// 2 s and 4 s backoff (Options.WebhookBackoff), 2xx is delivered. It does
// not block the caller; a drain lets the attempt under way finish and
// starts no other.
func (x *Orchestrator) notify(j *core.Job, n *core.Notification) {
	x.log.Debug("job ended", "job", j.ID, "blueprint", j.Blueprint, "status", j.Status)
	if j.WebhookURL == "" {
		return
	}
	body := map[string]any{"event": n.Event, "job_id": j.ID, "status": j.Status, "result": j.History, "metadata": j.Metadata, "timestamp": x.now().Unix()}
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
		return
	}
	x.hooks.Add(1)
	go func() {
		defer x.hooks.Done()
		delay := x.hookBackoff
		for try := 0; try < 3; try++ {
			// An attempt under way when the server drains may finish; no
			// new one starts after.
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, j.WebhookURL, bytes.NewReader(b))
			if err == nil {
				req.Header.Set("Content-Type", "application/json")
				var resp *http.Response
				resp, err = x.hookClient.Do(req)
				if err == nil {
					resp.Body.Close()
					if resp.StatusCode/100 == 2 {
						cancel()
						return
					}
				}
			}
			cancel()
			if try == 2 {
				break
			}
			t := time.NewTimer(delay)
			select {
			case <-x.drainCtx.Done():
				t.Stop()
				x.log.Warn("webhook not delivered: the server is shutting down", "job", j.ID, "url", j.WebhookURL)
				return
			case <-t.C:
			}
			delay *= 2
		}
		x.log.Warn("webhook not delivered", "job", j.ID, "url", j.WebhookURL)
	}()
}
