// Package auth implements client authentication for xmppd: credential storage
// and the server side of the SASL mechanisms offered on c2s streams.
//
// Implemented:
//   - SCRAM-SHA-1 (RFC 5802) and SCRAM-SHA-256 (RFC 7677), server side,
//     written here rather than taken from mellium.im/sasl because mellium's
//     server needs the SaltedPassword (password-equivalent) and panics on
//     -PLUS;
//   - SCRAM-SHA-1-PLUS and SCRAM-SHA-256-PLUS with the tls-exporter channel
//     binding (RFC 9266), offered when the Policy allows it and the TLS
//     connection can export keying material safely (TLS 1.3, or TLS 1.2
//     with extended master secret), advertised together with XEP-0440
//     (urn:xmpp:sasl-cb:0);
//   - PLAIN (RFC 4616), offered when the Policy allows it and only on TLS
//     connections, checked against the stored SCRAM keys;
//   - credentials stored only as RFC 5802 StoredKey and ServerKey per hash;
//   - PRECIS (RFC 8265) normalisation: UsernameCaseMapped for usernames,
//     OpaqueString for passwords.
//
// What is offered is decided by a Policy value that each server builds once
// and passes to Mechanisms or StreamFeatureTLS; the package has no global
// settings, so servers in one process can differ.
//
// Unknown users go through the same exchange as known users, with a salt and
// keys derived from the policy's persistent secret, so that neither the
// answers nor the timing tell an attacker whether an account exists.
//
// Every authentication failure is reported to mellium as sasl.ErrAuthn, the
// only error for which mellium.im/xmpp sends <failure><not-authorized/>.
package auth
