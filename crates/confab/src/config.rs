//! Settings for `confab serve`: flags, `CONFAB_*` environment variables and
//! an optional TOML file, in that order of precedence, then defaults.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde::Deserialize;

/// The TOML file's keys (all optional).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Data directory.
    pub data_dir: Option<PathBuf>,
    /// Plain HTTP listen address.
    pub listen: Option<String>,
    /// HTTPS listen address.
    pub tls_listen: Option<String>,
    /// PEM certificate chain for HTTPS.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for HTTPS.
    pub tls_key: Option<PathBuf>,
    /// Media threads.
    pub media_threads: Option<usize>,
    /// Address the RTP sockets bind to.
    pub media_bind: Option<String>,
    /// Directory of the WAV files simulated callers may play.
    pub sim_audio_dir: Option<PathBuf>,
    /// SIP listen address (UDP and TCP), or `off`.
    pub sip_listen: Option<String>,
    /// Address for SDP and Contact when confab is reached through NAT.
    pub sip_external_ip: Option<String>,
    /// The SIP trunk phone numbers are dialed through.
    pub sip_trunk: Option<String>,
    /// The trunk's digest user name.
    pub sip_trunk_username: Option<String>,
    /// The trunk's digest password.
    pub sip_trunk_password: Option<String>,
    /// The trunk's From policy: `caller` or a fixed number.
    pub sip_trunk_from: Option<String>,
    /// A file of `username:password` lines inbound callers authenticate with.
    pub sip_credentials: Option<PathBuf>,
    /// Address ranges whose INVITEs need no credentials.
    pub sip_allow: Option<Vec<String>>,
}

/// What was given on the command line or in the environment.
#[derive(Debug, Default, Clone, clap::Args)]
pub struct ServeArgs {
    /// Directory for the database and other state [default: ./confab-data].
    #[arg(long, env = "CONFAB_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Address for the plain HTTP API [default: 127.0.0.1:8080].
    #[arg(long, env = "CONFAB_LISTEN")]
    pub listen: Option<String>,
    /// Address for the HTTPS API (needs --tls-cert and --tls-key).
    #[arg(long, env = "CONFAB_TLS_LISTEN")]
    pub tls_listen: Option<String>,
    /// PEM certificate chain for HTTPS.
    #[arg(long, env = "CONFAB_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for HTTPS.
    #[arg(long, env = "CONFAB_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// Media threads mixing all conferences [default: 2, or 1 on a single core].
    #[arg(long, env = "CONFAB_MEDIA_THREADS")]
    pub media_threads: Option<usize>,
    /// IP address the RTP sockets bind to [default: 127.0.0.1].
    #[arg(long, env = "CONFAB_MEDIA_BIND")]
    pub media_bind: Option<String>,
    /// Directory of the WAV files `sim:NAME?file=PATH` may play; PATH is resolved inside it
    /// [default: DATA_DIR/sim-audio].
    #[arg(long, env = "CONFAB_SIM_AUDIO_DIR")]
    pub sim_audio_dir: Option<PathBuf>,
    /// SIP: listen address, trunk, who may call in (boxed: the command enum stays small).
    #[command(flatten)]
    pub sip: Box<SipArgs>,
    /// A TOML file with the same settings (data_dir, listen, tls_listen, tls_cert, tls_key,
    /// media_threads, media_bind, sim_audio_dir, sip_listen, sip_external_ip, sip_trunk,
    /// sip_trunk_username, sip_trunk_password, sip_trunk_from, sip_credentials, sip_allow).
    #[arg(long, env = "CONFAB_CONFIG")]
    pub config: Option<PathBuf>,
}

/// The SIP flags of `confab serve`.
#[derive(Debug, Default, Clone, clap::Args)]
pub struct SipArgs {
    /// Address for SIP over UDP and TCP (the same port for both), or `off` for no SIP
    /// [default: 127.0.0.1:5060].
    #[arg(long, env = "CONFAB_SIP_LISTEN")]
    pub sip_listen: Option<String>,
    /// The IP address phones reach confab at, put in SDP `c=` and in Contact/Via when confab
    /// is behind NAT [default: the SIP and media addresses].
    #[arg(long, env = "CONFAB_SIP_EXTERNAL_IP")]
    pub sip_external_ip: Option<String>,
    /// The SIP trunk phone numbers are dialed through, `sip:HOST[:PORT][;transport=tcp]`
    /// [default: none, and a number `To` is refused with 21211].
    #[arg(long, env = "CONFAB_SIP_TRUNK")]
    pub sip_trunk: Option<String>,
    /// The user name answering the trunk's 401/407 challenges.
    #[arg(long, env = "CONFAB_SIP_TRUNK_USERNAME")]
    pub sip_trunk_username: Option<String>,
    /// The password answering the trunk's 401/407 challenges.
    #[arg(long, env = "CONFAB_SIP_TRUNK_PASSWORD", hide_env_values = true)]
    pub sip_trunk_password: Option<String>,
    /// Who trunk calls are from: `caller` (the call's From or callerId) or a fixed NUMBER,
    /// with the caller id then in P-Asserted-Identity [default: caller].
    #[arg(long, env = "CONFAB_SIP_TRUNK_FROM")]
    pub sip_trunk_from: Option<String>,
    /// A file of `username:password` lines (`#` comments): an inbound INVITE from outside
    /// --sip-allow is challenged (digest, SHA-256 and MD5) and let in only with one of them
    /// [default: no authentication].
    #[arg(long, env = "CONFAB_SIP_CREDENTIALS")]
    pub sip_credentials: Option<PathBuf>,
    /// An address range (CIDR, e.g. 10.0.0.0/8) whose INVITEs need no credentials;
    /// repeatable or comma-separated. Without --sip-credentials, INVITEs from anywhere else
    /// are refused (403).
    #[arg(long, env = "CONFAB_SIP_ALLOW", value_delimiter = ',')]
    pub sip_allow: Vec<String>,
}

/// Resolved settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// Data directory.
    pub data_dir: PathBuf,
    /// Plain HTTP address.
    pub listen: SocketAddr,
    /// HTTPS address, certificate and key.
    pub tls: Option<(SocketAddr, PathBuf, PathBuf)>,
    /// Media threads and RTP address.
    pub media: crate::media::MediaConfig,
    /// SIP, unless `--sip-listen off`.
    pub sip: Option<crate::sip::SipConfig>,
}

impl Config {
    /// The database file inside the data directory.
    pub fn database(&self) -> PathBuf {
        self.data_dir.join("confab.db")
    }

    /// Merges flags/environment over the file over defaults.
    pub fn resolve(args: ServeArgs) -> anyhow::Result<Config> {
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        let data_dir = args
            .data_dir
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from("confab-data"));
        let listen = parse_addr(
            &args
                .listen
                .or(file.listen)
                .unwrap_or_else(|| "127.0.0.1:8080".into()),
        )?;
        let tls = match (
            args.tls_listen.or(file.tls_listen),
            args.tls_cert.or(file.tls_cert),
            args.tls_key.or(file.tls_key),
        ) {
            (None, None, None) => None,
            (Some(addr), Some(cert), Some(key)) => Some((parse_addr(&addr)?, cert, key)),
            _ => bail!("HTTPS needs all three of --tls-listen, --tls-cert and --tls-key"),
        };
        let mut media = crate::media::MediaConfig::default();
        if let Some(threads) = args.media_threads.or(file.media_threads) {
            if !(1..=64).contains(&threads) {
                bail!("media threads must be 1 to 64, not {threads}");
            }
            media.threads = threads;
        }
        if let Some(bind) = args.media_bind.or(file.media_bind) {
            media.bind = bind
                .parse()
                .with_context(|| format!("{bind:?} is not an IP address for the media sockets"))?;
        }
        media.sim_audio_dir = Some(
            args.sim_audio_dir
                .or(file.sim_audio_dir)
                .unwrap_or_else(|| data_dir.join("sim-audio")),
        );
        let sip = *args.sip;
        let sip_listen = sip
            .sip_listen
            .or(file.sip_listen)
            .unwrap_or_else(|| "127.0.0.1:5060".into());
        let external_ip =
            match sip.sip_external_ip.or(file.sip_external_ip) {
                Some(ip) => Some(ip.parse().with_context(|| {
                    format!("{ip:?} is not an IP address for --sip-external-ip")
                })?),
                None => None,
            };
        let sip = if sip_listen.eq_ignore_ascii_case("off") {
            None
        } else {
            let listen = sip_listen.parse().with_context(|| {
                format!("{sip_listen:?} is not a HOST:PORT address for SIP (e.g. 127.0.0.1:5060) or \"off\"")
            })?;
            let trunk = match sip.sip_trunk.or(file.sip_trunk) {
                Some(uri) => Some(
                    crate::sip::Trunk::parse(
                        &uri,
                        sip.sip_trunk_username.or(file.sip_trunk_username),
                        sip.sip_trunk_password.or(file.sip_trunk_password),
                        sip.sip_trunk_from.or(file.sip_trunk_from).as_deref(),
                    )
                    .map_err(anyhow::Error::msg)?,
                ),
                None => None,
            };
            let credentials = match sip.sip_credentials.or(file.sip_credentials) {
                Some(path) => Some(
                    std::fs::read_to_string(&path)
                        .with_context(|| format!("reading {}", path.display()))?,
                ),
                None => None,
            };
            let allow = match sip.sip_allow {
                given if !given.is_empty() => given,
                _ => file.sip_allow.unwrap_or_default(),
            };
            let access = crate::sip::InboundAccess::parse(credentials.as_deref(), &allow)
                .map_err(|e| anyhow::anyhow!("--sip-credentials/--sip-allow: {e}"))?;
            Some(crate::sip::SipConfig {
                listen,
                external_ip,
                trunk,
                access,
            })
        };
        Ok(Config {
            data_dir,
            listen,
            tls,
            media,
            sip,
        })
    }
}

/// The data directory for the `accounts` commands.
pub fn data_dir(arg: Option<PathBuf>) -> PathBuf {
    arg.unwrap_or_else(|| PathBuf::from("confab-data"))
}

fn read_file(path: &Path) -> anyhow::Result<FileConfig> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

fn parse_addr(s: &str) -> anyhow::Result<SocketAddr> {
    s.parse()
        .with_context(|| format!("{s:?} is not a HOST:PORT address (e.g. 127.0.0.1:8080)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serve(sip: SipArgs, config: Option<PathBuf>) -> anyhow::Result<Config> {
        Config::resolve(ServeArgs {
            sip: Box::new(sip),
            config,
            ..ServeArgs::default()
        })
    }

    #[test]
    fn sip_trunk_and_access_come_from_flags_or_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let users = dir.path().join("users");
        std::fs::write(&users, "alice:secret\n").expect("users");
        let flags = SipArgs {
            sip_trunk: Some("sip:10.0.0.1:5080;transport=tcp".into()),
            sip_trunk_from: Some("+15550109999".into()),
            sip_allow: vec!["10.0.0.0/8".into()],
            sip_credentials: Some(users.clone()),
            ..SipArgs::default()
        };
        let sip = serve(flags, None).expect("valid").sip.expect("SIP on");
        let trunk = sip.trunk.expect("a trunk");
        assert_eq!((trunk.gateway.port, trunk.gateway.tcp), (5080, true));
        let access = sip.access.expect("access");
        assert_eq!((access.credentials.len(), access.allow.len()), (1, 1));

        let file = dir.path().join("confab.toml");
        let toml = format!(
            "sip_trunk = \"sip:gw.example.net\"\nsip_trunk_username = \"acct\"\n\
             sip_trunk_password = \"pw\"\nsip_allow = [\"192.168.0.0/16\", \"::1\"]\n\
             sip_credentials = {:?}\n",
            users.display().to_string()
        );
        std::fs::write(&file, toml).expect("toml");
        let sip = serve(SipArgs::default(), Some(file))
            .expect("valid")
            .sip
            .expect("on");
        assert_eq!(
            sip.trunk
                .and_then(|t| t.auth)
                .map(|a| a.username)
                .as_deref(),
            Some("acct")
        );
        assert_eq!(sip.access.map(|a| a.allow.len()), Some(2));

        let none = serve(SipArgs::default(), None)
            .expect("valid")
            .sip
            .expect("on");
        assert_eq!((none.trunk, none.access), (None, None));
        for bad in [
            SipArgs {
                sip_trunk: Some("sips:gw".into()),
                ..SipArgs::default()
            },
            SipArgs {
                sip_allow: vec!["10.0.0.0/99".into()],
                ..SipArgs::default()
            },
            SipArgs {
                sip_credentials: Some(dir.path().join("missing")),
                ..SipArgs::default()
            },
        ] {
            assert!(serve(bad, None).is_err());
        }
    }
}
