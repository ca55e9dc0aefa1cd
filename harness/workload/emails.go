package workload

import "fmt"

// Emails: UserRegistered events each get one welcome email, sent through a mail gateway outside
// the database that keeps idempotency keys (seed 001). Every sign-up is its own user.
var Emails = Workload{
	Name:   "emails",
	Doc:    "UserRegistered -> one welcome email through a mail gateway outside the database, which keeps idempotency keys (seed 001)",
	Effect: External,
	Event:  "UserRegistered",
	Words:  Words{Command: "sign-up", Applied: "emailed", Rows: "emails", NamesKey: true},
	command: func(_ Source, i, _ int) Command {
		return Command{ID: fmt.Sprintf("signup-%d", i), Key: fmt.Sprintf("user-%d", i), Amount: int64(i)}
	},
}
