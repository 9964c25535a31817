"""What at least two services share: settings, logging, events, broker topology, store, auth, HTTP."""
