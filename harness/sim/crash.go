package sim

// What the death of a process does to the servers, as madsim's reset hooks: each server says
// what it wipes of what it held for the process, and world.reset calls them, in one place, when a
// process crashes (proc.seq) and when a body of RunBodies returns (the process exits). The
// process's own memory goes with its coroutine: a restart runs the body afresh.
//
// What a crash leaves alone: committed data, the queue's messages, and the links. A cut or a slow
// link (world.dbCut, brokerCut, slow) belongs to the network, not to the process, and a restarted
// process finds it as its predecessor left it until the fault heals.
//
// On real servers nobody calls these: the kernel closes a SIGKILLed worker's sockets and each
// server does the same on its own (harness/real's crash mechanism says so).

// reset is everything the servers do when p dies, in a fixed order.
func (w *world) reset(p *proc) {
	w.db.crash(p)
	w.br.crash(p)
	w.gw.crash(p)
}

// crash: PostgreSQL ends the backend of a closed connection: the process's open transactions
// abort, their locks are released and the rows they inserted never become visible.
func (d *db) crash(p *proc) { d.disconnect(p, "process died") }

// disconnect aborts every open transaction of p, as when its connection is lost.
func (d *db) disconnect(p *proc, why string) {
	for len(p.txs) > 0 {
		p.txs[0].abort(why)
	}
}

// crash: RabbitMQ closes the process's channels: the deliveries it had not acknowledged go back
// to their place in the queue, flagged redelivered, and its unconfirmed publishes get no confirm.
func (b *broker) crash(p *proc) {
	if p.pubCh != nil {
		b.close(p.pubCh, "process died")
		p.pubCh = nil
	}
	if p.subCh != nil {
		b.close(p.subCh, "process died")
		p.subCh = nil
	}
}

// crash: the mail gateway holds nothing for a client between requests; an email it accepted
// stays sent, and the idempotency keys it has seen stay seen.
func (g *gateway) crash(*proc) {}
