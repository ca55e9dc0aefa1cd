package strategies

// Fault points the strategies pass. A crash fault names one of them; the process dies there.
const (
	PointProducerBeforeCommit = "producer.before-commit"
	PointProducerAfterCommit  = "producer.after-commit"
	PointProducerAfterPublish = "producer.after-publish"
	PointRelayAfterClaim      = "relay.after-claim"
	PointRelayAfterPublish    = "relay.after-publish"
	PointRelayAfterCommit     = "relay.after-commit"
	PointRelayAfterRead       = "relay.after-read"
	PointRelayAfterAdvance    = "relay.after-advance"
	PointConsumerAfterReceive = "consumer.after-receive"
	PointConsumerAfterCheck   = "consumer.after-check"
	PointConsumerAfterAck     = "consumer.after-ack"
	PointConsumerBeforeCommit = "consumer.before-commit"
	PointConsumerAfterEffect  = "consumer.after-effect"
)
