module github.com/deliveryharness/harness

go 1.26.0

replace github.com/Azure/go-ansiterm => github.com/Azure/go-ansiterm v0.0.0-20250102033503-faa5f7b0171c

require pgregory.net/rapid v1.3.0
