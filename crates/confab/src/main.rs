//! The `confab` command line.

use clap::{Parser, Subcommand};
use confab::config::{self, Config, ServeArgs};
use confab_core::SidStyle;
use confab_store::{SqliteStore, Store};

// glibc malloc took a tenth of the server's CPU under API load: the arena
// lock is contended when the store writer frees what HTTP workers allocated,
// and large frees trigger malloc_consolidate. mimalloc keeps per-thread heaps
// and frees across threads without a global lock.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Self-hosted programmable-voice conference server with a Twilio and
/// SignalWire compatible REST API.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve(ServeArgs),
    /// Manage accounts (works while the server runs).
    Accounts {
        #[command(subcommand)]
        action: AccountsAction,
    },
}

#[derive(Subcommand)]
enum AccountsAction {
    /// Create an account and print its SID and auth token.
    Create {
        /// Data directory [default: ./confab-data].
        #[arg(long, env = "CONFAB_DATA_DIR")]
        data_dir: Option<std::path::PathBuf>,
        /// SID style: twilio (AC… SIDs) or signalwire (UUIDs).
        #[arg(long, default_value = "twilio", value_parser = parse_style)]
        style: SidStyle,
        /// A name for people.
        #[arg(long, default_value = "confab account")]
        friendly_name: String,
        /// Print {"sid": …, "auth_token": …}.
        #[arg(long)]
        json: bool,
    },
    /// List accounts.
    List {
        /// Data directory [default: ./confab-data].
        #[arg(long, env = "CONFAB_DATA_DIR")]
        data_dir: Option<std::path::PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

fn parse_style(s: &str) -> Result<SidStyle, String> {
    SidStyle::parse(s).ok_or_else(|| format!("{s:?} is not a SID style (twilio or signalwire)"))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CONFAB_LOG")
                .unwrap_or_else(|_| "confab=info,warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Serve(args) => confab::server::serve(Config::resolve(args)?).await,
        Command::Accounts { action } => accounts(action).await,
    }
}

async fn open(data_dir: Option<std::path::PathBuf>) -> anyhow::Result<SqliteStore> {
    let dir = config::data_dir(data_dir);
    std::fs::create_dir_all(&dir)?;
    Ok(SqliteStore::open(&dir.join("confab.db")).await?)
}

async fn accounts(action: AccountsAction) -> anyhow::Result<()> {
    match action {
        AccountsAction::Create {
            data_dir,
            style,
            friendly_name,
            json,
        } => {
            let store = open(data_dir).await?;
            let account = confab::state::create_account(&store, style, &friendly_name).await?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({"sid": account.sid.as_str(), "auth_token": account.auth_token})
                );
            } else {
                println!(
                    "Account SID: {}\nAuth token:  {}",
                    account.sid, account.auth_token
                );
            }
        }
        AccountsAction::List { data_dir, json } => {
            let store = open(data_dir).await?;
            let accounts = store.accounts().await?;
            if json {
                let list: Vec<_> = accounts
                    .iter()
                    .map(|a| serde_json::json!({"sid": a.sid.as_str(), "auth_token": a.auth_token, "style": a.style.as_str(), "friendly_name": a.friendly_name}))
                    .collect();
                println!("{}", serde_json::Value::Array(list));
            } else {
                for a in &accounts {
                    println!(
                        "{}  {}  {}  {}",
                        a.sid,
                        a.auth_token,
                        a.style.as_str(),
                        a.friendly_name
                    );
                }
            }
        }
    }
    Ok(())
}
