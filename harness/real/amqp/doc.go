// Package amqp is the RabbitMQ half of the real backend, on amqp091-go: a run's queue (declared
// with the harness's mark and an expiry, deleted afterwards, refused when it is not the run's),
// the strategies.Publisher (persistent messages on a confirm channel) and the
// strategies.Subscription (manual acks under a prefetch limit). Every broker call has a deadline;
// every failure wraps the strategies sentinel it falls under (ErrChannelClosed, ErrNoConfirm,
// ErrNacked, ErrIdle) and carries no password.
//
// It knows nothing of runs, processes or faults: it must not import package real (the run loop)
// nor its siblings pg and worker, nor testing. It imports the strategies' ports, the history's
// plain data and package redact.
package amqp
