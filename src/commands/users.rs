//! `reporter users add|list|remove`

use anyhow::Result;
use clap::Subcommand;

use crate::context::Context;
use crate::db::{self, users};
use crate::output::{print_json, print_table, println_out};

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Add a user
    #[command(
        after_help = "Example: reporter users add alice --login alice@example.com --monthly-orders 1200"
    )]
    Add {
        /// Name used in every other command
        name: String,
        /// Login on the orders portal [default: the name]
        #[arg(long)]
        login: Option<String>,
        /// Orders the user receives in a month (sizes the slot load estimate)
        #[arg(
            long,
            value_name = "N",
            default_value_t = 0,
            allow_negative_numbers = true
        )]
        monthly_orders: i64,
    },
    /// List users
    List,
    /// Remove a user with their reservation and history
    Remove { name: String },
}

impl UsersCommand {
    pub fn run(&self, ctx: &Context) -> Result<()> {
        let mut conn = ctx.db()?;
        match self {
            UsersCommand::Add {
                name,
                login,
                monthly_orders,
            } => {
                let login = login.as_deref().unwrap_or(name);
                let user =
                    db::immediate(&mut conn, |tx| users::add(tx, name, login, *monthly_orders))?;
                if ctx.json {
                    return print_json(&user);
                }
                println_out(&format!(
                    "added user `{}` (login {}, {} orders a month); reserve an hour with `reporter reserve {} --hour H`",
                    user.name, user.login, user.monthly_orders_estimate, user.name
                ))
            }
            UsersCommand::List => {
                let all = users::list(&conn)?;
                if ctx.json {
                    return print_json(&all);
                }
                let rows = all
                    .into_iter()
                    .map(|u| vec![u.name, u.login, u.monthly_orders_estimate.to_string()])
                    .collect();
                print_table(&["user", "login", "monthly orders"], rows)
            }
            UsersCommand::Remove { name } => {
                let user = db::immediate(&mut conn, |tx| users::remove(tx, name))?;
                if ctx.json {
                    return print_json(&user);
                }
                println_out(&format!(
                    "removed user `{}` with their reservation and history",
                    user.name
                ))
            }
        }
    }
}
