package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/sdk/client"
)

// Start a job on a server, wait for it to end and read its result.
func Example() {
	c, err := client.New("http://localhost:8080", client.Options{Token: os.Getenv("CLIENT_TOKEN")})
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	id, err := c.Start(ctx, "inventory_check", map[string]any{"item_id": "sku-42", "quantity": 3}, client.StartOptions{})
	var ae *client.APIError
	switch {
	case errors.Is(err, client.ErrInvalidInput) && errors.As(err, &ae):
		log.Fatalf("refused: %s %v", ae.Message, ae.Details)
	case err != nil:
		log.Fatal(err)
	}
	job, err := c.Wait(ctx, id)
	if err != nil {
		log.Fatal(err)
	}
	if !job.Status.Succeeded() {
		log.Fatalf("job %s ended %s in %s: %+v", id, job.Status, job.State, job.Error)
	}
	fmt.Println(job.Result["in_stock"])
}

// Follow a job, printing each change of its status or state.
func ExampleClient_Watch() {
	c, err := client.New("http://localhost:8080", client.Options{})
	if err != nil {
		log.Fatal(err)
	}
	job, err := c.Watch(context.Background(), "JOB_ID", client.WatchOptions{
		Every: time.Second,
		OnUpdate: func(j *client.Job, changed bool) {
			if changed {
				fmt.Println(j.Status, j.State)
			}
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("ended", job.Status)
}
