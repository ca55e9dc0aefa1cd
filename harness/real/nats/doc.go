// Package nats is the NATS JetStream half of the real backend, on nats.go's jetstream package: a
// run's stream (named with the harness's prefix and the run id, marked in its description,
// deleted afterwards, refused when it is not the run's) with its duplicate window and the durable
// pull consumer of the run's consumer group; the strategies.Publisher (the message id in the
// Nats-Msg-Id header, the PubAck as the publisher confirm) and the strategies.Subscription
// (explicit acks, fetches of up to the prefetch, redelivery after the ack wait). Every call has
// a deadline; every failure wraps the strategies sentinel it falls under (ErrChannelClosed,
// ErrNoConfirm, ErrNacked, ErrIdle) and carries no password.
//
// It knows nothing of runs, processes or faults: it must not import package real (the run loop)
// nor its siblings pg, amqp and worker, nor testing. It imports the strategies' ports, the
// history's plain data and package redact. Written against NATS 2.9: it uses no API that needs a
// newer server (no stream metadata, no multi-filter consumers).
package nats
