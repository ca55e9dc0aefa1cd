package workload

import "fmt"

// Prices: ProductPriceChanged events set a product's price (seed 002); the final price must be
// the latest committed change's. Several changes share a product.
var Prices = Workload{
	Name:   "prices",
	Doc:    "ProductPriceChanged, set price to X -> final price (seed 002)",
	Effect: Set,
	Event:  "ProductPriceChanged",
	Words:  Words{Command: "price change", Applied: "written", Rows: "price writes", NamesKey: true},
	command: func(src Source, i, keys int) Command {
		k := src.IntRange("product", 0, keys-1)
		return Command{ID: fmt.Sprintf("price-%d", i), Key: fmt.Sprintf("sku-%d", k+1), Amount: int64(100 + i)}
	},
}
