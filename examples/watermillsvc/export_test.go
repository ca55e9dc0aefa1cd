package watermillsvc

// QueueArgs exposes queueArgs to the package's external tests.
var QueueArgs = queueArgs
