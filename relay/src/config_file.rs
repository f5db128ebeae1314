//! The optional TOML configuration file (`--config FILE` / `LATCH_CONFIG`). Its keys are the
//! long flag names (`listen = "0.0.0.0:8787"`, `trusted-proxy = ["10.0.0.1"]`); a key is
//! applied only when that setting came from neither the command line nor the environment,
//! so the order is flags > `LATCH_*` > file > defaults. The file is turned into extra
//! arguments and parsed by clap like the rest, so it gets the same validation and errors.

use std::ffi::OsString;

use anyhow::{bail, Context};
use clap::parser::ValueSource;
use clap::{ArgMatches, Command};

/// `argv` plus the file's settings as arguments, when a config file is named.
pub fn merge(cmd: &Command, argv: Vec<OsString>) -> anyhow::Result<Vec<OsString>> {
    let matches = match cmd.clone().try_get_matches_from(&argv) {
        Ok(m) => m,
        Err(_) => return Ok(argv), // let the real parse print clap's error or help
    };
    let Some(path) = matches.get_one::<String>("config") else {
        return Ok(argv);
    };
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read config file {path}"))?;
    let table: toml::Table = toml::from_str(&text).with_context(|| format!("config file {path}"))?;
    let sub = matches.subcommand().and_then(|(name, m)| Some((cmd.find_subcommand(name)?, m)));
    let mut extra = Vec::new();
    for (key, value) in &table {
        let (arg_matches, id) = if let Some(arg) = sub.and_then(|(c, _)| long_arg(c, key)) {
            (sub.map(|(_, m)| m).expect("sub is set"), arg)
        } else if let Some(arg) = long_arg(cmd, key) {
            (&matches, arg)
        } else {
            bail!("config file {path}: unknown setting {key:?} (settings are the long flag names, e.g. listen)");
        };
        if given_elsewhere(arg_matches, &id) || given_elsewhere(&matches, &id) {
            continue;
        }
        for v in values(key, value).with_context(|| format!("config file {path}"))? {
            extra.push(OsString::from(format!("--{key}={v}")));
        }
    }
    let mut merged = argv;
    merged.extend(extra);
    Ok(merged)
}

/// The id of the argument whose long name is `key` (the file may also use snake_case).
fn long_arg(cmd: &Command, key: &str) -> Option<String> {
    let key = key.replace('_', "-");
    cmd.get_arguments().find(|a| a.get_long() == Some(key.as_str())).map(|a| a.get_id().to_string())
}

fn given_elsewhere(m: &ArgMatches, id: &str) -> bool {
    matches!(m.try_contains_id(id), Ok(true))
        && matches!(m.value_source(id), Some(ValueSource::CommandLine | ValueSource::EnvVariable))
}

fn values(key: &str, value: &toml::Value) -> anyhow::Result<Vec<String>> {
    Ok(match value {
        toml::Value::String(s) => vec![s.clone()],
        toml::Value::Integer(i) => vec![i.to_string()],
        toml::Value::Float(f) => vec![f.to_string()],
        toml::Value::Boolean(b) => vec![b.to_string()],
        toml::Value::Array(items) => {
            let mut out = Vec::new();
            for item in items {
                out.extend(values(key, item)?);
            }
            out
        }
        other => bail!("{key}: {} is not a setting value", other.type_str()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{Arg, ArgAction};

    fn cmd() -> Command {
        Command::new("relay")
            .arg(Arg::new("config").long("config").global(true))
            .arg(Arg::new("database").long("database").global(true).env("TEST_LATCH_DB").default_value("sqlite://x"))
            .subcommand(
                Command::new("serve")
                    .arg(Arg::new("listen").long("listen").default_value("127.0.0.1:1"))
                    .arg(Arg::new("trusted_proxy").long("trusted-proxy").action(ArgAction::Append)),
            )
    }

    fn file(text: &str) -> tempfile::NamedTempFile {
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), text).unwrap();
        f
    }

    fn run(args: &[&str], text: &str) -> anyhow::Result<ArgMatches> {
        let f = file(text);
        let mut argv: Vec<OsString> = args.iter().map(OsString::from).collect();
        argv.extend([OsString::from("--config"), f.path().into()]);
        Ok(cmd().try_get_matches_from(merge(&cmd(), argv)?)?)
    }

    fn serve_value(m: &ArgMatches, id: &str) -> Vec<String> {
        let (_, sub) = m.subcommand().unwrap();
        sub.get_many::<String>(id).map(|v| v.cloned().collect()).unwrap_or_default()
    }

    #[test]
    fn the_file_fills_what_flags_left_at_their_defaults() {
        let m = run(
            &["relay", "serve"],
            "listen = \"0.0.0.0:9\"\ntrusted-proxy = [\"10.0.0.1\", \"10.0.0.2\"]\ndatabase = \"postgres://db/latch\"",
        )
        .unwrap();
        assert_eq!(serve_value(&m, "listen"), ["0.0.0.0:9"]);
        assert_eq!(serve_value(&m, "trusted_proxy"), ["10.0.0.1", "10.0.0.2"]);
        assert_eq!(m.get_one::<String>("database").unwrap(), "postgres://db/latch");
    }

    #[test]
    fn flags_win_over_the_file() {
        let m = run(&["relay", "serve", "--listen", "1.2.3.4:5"], "listen = \"0.0.0.0:9\"").unwrap();
        assert_eq!(serve_value(&m, "listen"), ["1.2.3.4:5"]);
    }

    #[test]
    fn unknown_keys_and_tables_are_refused_with_the_key_named() {
        let e = run(&["relay", "serve"], "lisen = \"x\"").unwrap_err().to_string();
        assert!(e.contains("unknown setting \"lisen\""), "{e}");
        let e = format!("{:#}", run(&["relay", "serve"], "listen = { a = 1 }").unwrap_err());
        assert!(e.contains("listen"), "{e}");
        assert!(run(&["relay", "serve"], "listen = ").is_err(), "malformed TOML");
    }

    #[test]
    fn without_a_config_file_argv_is_untouched() {
        let argv: Vec<OsString> = ["relay", "serve", "--listen", "x"].iter().map(OsString::from).collect();
        assert_eq!(merge(&cmd(), argv.clone()).unwrap(), argv);
    }
}
