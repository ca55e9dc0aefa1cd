package workload

import "fmt"

// Credits: AccountCredited events, each with its transaction number, add their amount to an
// account's balance (seed 004). Several credits share an account.
var Credits = Workload{
	Name:   "credits",
	Doc:    "AccountCredited with a transaction number -> balance += amount (seed 004)",
	Effect: Add,
	Event:  "AccountCredited",
	Words:  Words{Command: "credit", Applied: "credited", Rows: "ledger entries", NamesKey: true},
	command: func(src Source, i, keys int) Command {
		k := src.IntRange("account", 0, keys-1)
		return Command{ID: fmt.Sprintf("txn-%d", i), Key: fmt.Sprintf("acct-%c", 'A'+k), Amount: int64(10 * i)}
	},
}
