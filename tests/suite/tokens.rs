//! `reporter tokens`: a token is printed once and stored only as a hash.

use crate::support::Sandbox;

#[test]
fn a_token_is_printed_once_and_only_its_hash_is_stored() {
    let sb = Sandbox::new();
    sb.run(&["users", "add", "alice"]).ok();
    let out = sb.run(&["tokens", "add", "alice"]).ok();
    let token = out.stdout.trim();
    assert!(token.starts_with("rpt_") && token.len() == 68, "{token}");
    assert!(out.stderr.contains("shown once"), "{}", out.stderr);
    let snapshot = sb.snapshot();
    assert!(!snapshot.contains(token), "the token is in the database");
    let listed = sb.run(&["tokens", "list", "--json"]).ok();
    assert!(!listed.stdout.contains(token));
    let rows = listed.json();
    assert_eq!(rows[0]["kind"], "user");
    assert_eq!(rows[0]["name"], "alice");
    assert_eq!(rows[0]["revoked_at"], serde_json::Value::Null);
    let admin = sb
        .run(&["tokens", "add", "--admin", "ops", "--json"])
        .ok()
        .json();
    assert_eq!(admin["id"], 2);
    assert_eq!(
        sb.run(&["tokens", "list", "--json"]).ok().json()[1]["kind"],
        "admin"
    );
}

#[test]
fn a_token_for_an_unknown_user_or_an_unknown_revoke_is_refused() {
    let sb = Sandbox::new();
    sb.run(&["slots"]).ok();
    sb.refused_unchanged(
        &["tokens", "add", "carol"],
        "user `carol` does not exist; add it with `reporter users add carol` or see `reporter users list`",
    );
    sb.refused_unchanged(
        &["tokens", "revoke", "7"],
        "token 7 does not exist or is already revoked; see `reporter tokens list`",
    );
    sb.run(&["users", "add", "alice"]).ok();
    sb.run(&["tokens", "add", "alice"]).ok();
    sb.run(&["tokens", "revoke", "1"]).ok();
    sb.refused_unchanged(
        &["tokens", "revoke", "1"],
        "token 1 does not exist or is already revoked; see `reporter tokens list`",
    );
}
