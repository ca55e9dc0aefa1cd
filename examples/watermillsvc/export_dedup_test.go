package watermillsvc

import "github.com/ThreeDotsLabs/watermill/message/router/middleware"

// Payload exposes payloadOf to the package's external tests: the bytes Handle publishes.
var Payload = payloadOf

// Deduplicator exposes the consumer's Deduplicator, as New configured it, to the package's
// external tests.
func (s *Service) Deduplicator() *middleware.Deduplicator { return s.dedup }
