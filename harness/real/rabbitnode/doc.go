// Package rabbitnode runs a throwaway RabbitMQ node that belongs to the process that starts it,
// so that a fault that really restarts the broker (broker-restart) restarts that node only, never
// the shared RabbitMQ on 127.0.0.1:5672 that other runs use at the same time.
//
// # How a node starts
//
// Start picks two free ports of 127.0.0.1 below the ephemeral range (10000-32767: the AMQP
// listener and the Erlang distribution port; other ports if the node finds one taken), makes a
// directory of its own, os.TempDir()/harness-rabbitnode-<pid>-<n>-<random>, and runs
//
//	rabbitmq-server -detached
//
// with this environment (and none of the caller's RABBITMQ_* variables):
//
//	RABBITMQ_CONFIG_FILE=DIR/rabbitmq.conf         listeners.tcp.local = 127.0.0.1:PORT
//	RABBITMQ_ENABLED_PLUGINS_FILE=DIR/enabled_plugins  [] (no management listener to clash)
//	RABBITMQ_NODENAME=harness-<pid>-<n>-<random>@localhost
//	RABBITMQ_NODE_IP_ADDRESS=127.0.0.1  RABBITMQ_NODE_PORT=PORT  RABBITMQ_DIST_PORT=DIST
//	RABBITMQ_MNESIA_BASE=DIR/mnesia  RABBITMQ_LOG_BASE=DIR/log  RABBITMQ_PID_FILE=DIR/rabbitmq.pid
//	RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS=-kernel inet_dist_use_interface {127,0,0,1}
//	ERL_EPMD_ADDRESS=127.0.0.1
//
// then waits, within ctx's deadline or a minute, for a real AMQP handshake (guest/guest, which
// RabbitMQ admits on loopback). As root, the Debian rabbitmq-server and rabbitmqctl scripts run the
// real commands as the rabbitmq user (su, which keeps the environment and sets HOME to
// /var/lib/rabbitmq, so the node and rabbitmqctl share that user's Erlang cookie): DIR and its
// mnesia and log directories are therefore given to that user. The node registers with the
// machine's epmd (the shared node's); the package never stops epmd.
//
// Restart is `rabbitmqctl -n NAME stop_app` then `start_app` (the Erlang process stays; every
// connection is closed with CONNECTION_FORCED, unacknowledged messages return to their queues,
// durable queues and persistent messages stay), and returns once AMQP answers again. Stop is
// `rabbitmqctl -n NAME stop DIR/rabbitmq.pid` (which waits for the process to end), then removes
// DIR.
//
// # What a killed owner leaves
//
// DIR holds an owner file with the pid of the process that started the node, and a nodename
// file. Sweep (which Start calls first, and `simulate clean` too) finds the directories whose owner
// is dead, stops their nodes (rabbitmqctl stop; if the node's process outlives it, SIGKILL to that
// process only, the one its pid file names and whose environment names the node) and removes
// them. A pid reused by a live process keeps a node alive until that process ends: Sweep errs on
// the side of never stopping a live owner's node.
//
// # What it costs
//
// Measured 2026-12-07 on a 2-CPU machine, RabbitMQ 3.10.8 (Debian 12 package), Erlang/OTP 25,
// with
//
//	go test -count=1 -run TestNodeRestart -v ./harness/real/rabbitnode/
//
// which logs the figures. Over 12 runs, with other test suites running beside them (load average
// 5-13 on the 2 CPUs), median (range):
//
//	start (Start, to an AMQP handshake)             8.9 s (5.4-19.8 s)
//	Restart (stop_app + start_app, to a handshake)  5.5 s (2.9-11.4 s)
//	Stop (rabbitmqctl stop, to the process's end)   3.1 s (2.3-7.1 s)
//	memory (RSS of the node's beam.smp)             139-148 MiB
//
// Each rabbitmqctl call boots an Erlang VM of its own, about 0.8-1.1 s of it; by hand on the same
// machine, stop_app took 0.84 s and start_app 1.48 s.
//
// So a node is worth starting once per process (or per test binary) and restarting as often as
// the faults need; never once per run.
//
// The package imports only the standard library and amqp091-go; it must not import the harness's
// other packages.
package rabbitnode
