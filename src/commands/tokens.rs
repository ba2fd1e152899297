//! `reporter tokens add USER | add --admin NAME | list | revoke ID`

use anyhow::Result;
use clap::Subcommand;

use crate::context::Context;
use crate::db::{self, tokens};
use crate::output::{cell, print_json, print_table, println_out};
use crate::time::ms_to_rfc3339;

#[derive(Debug, Subcommand)]
pub enum TokensCommand {
    /// Make a bearer token for the HTTP API and print it once
    #[command(after_help = "Examples:\n  reporter tokens add alice            \
        # alice's own reservation and runs\n  reporter tokens add --admin ops      \
        # any user with ?user=NAME, every run\n\n\
        Only the token's hash is stored: copy it now, it cannot be shown again.")]
    Add {
        /// The user the token acts for (see `reporter users list`)
        #[arg(required_unless_present = "admin", conflicts_with = "admin")]
        user: Option<String>,
        /// Make an admin token, named for whoever holds it
        #[arg(long, value_name = "NAME")]
        admin: Option<String>,
    },
    /// List tokens (never the secrets)
    List,
    /// Revoke a token: the API refuses it from the next request on
    Revoke {
        /// The token's id (see `reporter tokens list`)
        #[arg(allow_negative_numbers = true)]
        id: i64,
    },
}

impl TokensCommand {
    pub fn run(&self, ctx: &Context) -> Result<()> {
        let mut conn = ctx.db()?;
        match self {
            TokensCommand::Add { user, admin } => {
                let issued = db::immediate(&mut conn, |tx| match (user, admin) {
                    (_, Some(name)) => tokens::add_admin(tx, name),
                    (Some(name), None) => tokens::add_for_user(tx, name),
                    (None, None) => unreachable!("clap requires USER or --admin"),
                })?;
                if ctx.json {
                    return print_json(
                        &serde_json::json!({"id": issued.id, "token": issued.token}),
                    );
                }
                ctx.say(format!(
                    "token {} made; it is shown once, store it now",
                    issued.id
                ));
                println_out(&issued.token)
            }
            TokensCommand::List => {
                let all = tokens::list(&conn)?;
                if ctx.json {
                    return print_json(&all);
                }
                let rows = all
                    .into_iter()
                    .map(|t| {
                        vec![
                            t.id.to_string(),
                            t.kind.to_string(),
                            t.name,
                            ms_to_rfc3339(t.created_at),
                            cell(t.revoked_at.map(ms_to_rfc3339)),
                        ]
                    })
                    .collect();
                print_table(&["id", "kind", "name", "created", "revoked"], rows)
            }
            TokensCommand::Revoke { id } => {
                db::immediate(&mut conn, |tx| tokens::revoke(tx, *id))?;
                if ctx.json {
                    return print_json(&serde_json::json!({"id": id, "revoked": true}));
                }
                println_out(&format!("revoked token {id}"))
            }
        }
    }
}
