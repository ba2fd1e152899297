//! Config: file, environment and flags, with errors that name the key and file.

use crate::support::Sandbox;

#[test]
fn a_toml_syntax_error_names_the_file_line_and_column() {
    let mut sb = Sandbox::new();
    let path = sb.config("range_size = 100\nlease_ttl = = 3\n");
    let run = sb.run(&["slots"]);
    assert_eq!(run.code, 2);
    let expected = format!(
        "error: config file `{}` at line 2, column 13:",
        path.display()
    );
    assert!(run.stderr.starts_with(&expected), "{}", run.stderr);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(
        !sb.db.exists(),
        "a refused command must not create the database"
    );
}

#[test]
fn an_unknown_config_key_is_named_with_the_file() {
    let mut sb = Sandbox::new();
    let path = sb.config("max_active_browsers = 6\nrnage_size = 100\n");
    let run = sb.run(&["slots"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.starts_with(&format!(
            "error: config file `{}` at line 2, column 1: unknown field `rnage_size`",
            path.display()
        )),
        "{}",
        run.stderr
    );
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
}

#[test]
fn a_bad_value_names_the_key_and_the_file() {
    let mut sb = Sandbox::new();
    let path = sb.config("time_zone = \"Mars/Olympus\"\n");
    sb.run(&["slots"]).refused(&format!(
        "config file `{}`: `time_zone` = Mars/Olympus is not valid: use an IANA time zone name such as \"Europe/Madrid\" or \"UTC\"",
        path.display()
    ));
}

#[test]
fn a_missing_config_file_is_refused() {
    let mut sb = Sandbox::new();
    sb.set_env("REPORTER_CONFIG", "/nonexistent/reporter.toml");
    let run = sb.run(&["slots"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .starts_with("error: cannot read config file `/nonexistent/reporter.toml`"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_bad_environment_value_names_the_variable() {
    let mut sb = Sandbox::new();
    sb.set_env("REPORTER_RANGE_SIZE", "lots");
    sb.run(&["slots"])
        .refused("environment variable `REPORTER_RANGE_SIZE`=lots is not a number; unset it or give a number");
    sb.set_env("REPORTER_RANGE_SIZE", "100");
    sb.set_env("MAX_ACTIVE_SELENIUM", "0");
    sb.run(&["slots"])
        .refused("environment variable `MAX_ACTIVE_SELENIUM`=0 is not valid: give a whole number from 1 to 1000");
}

#[test]
fn the_environment_overrides_the_file_and_the_flag_overrides_the_environment() {
    let mut sb = Sandbox::new();
    let file_db = sb.path("from-file.db");
    let env_db = sb.path("from-env.db");
    let flag_db = sb.path("from-flag.db");
    sb.config(&format!("database = \"{}\"\n", file_db.display()));
    sb.env.retain(|_| true);
    let mut cmd = sb.command(&["slots"]);
    cmd.env_remove("REPORTER_DB");
    assert!(cmd.output().unwrap().status.success());
    assert!(
        file_db.exists(),
        "the file's database is used without env or flag"
    );
    sb.set_env("REPORTER_DB", env_db.to_str().unwrap());
    sb.run(&["slots"]).ok();
    assert!(env_db.exists(), "REPORTER_DB overrides the file");
    sb.run(&["--db", flag_db.to_str().unwrap(), "slots"]).ok();
    assert!(flag_db.exists(), "--db overrides REPORTER_DB");
}

#[test]
fn the_example_config_is_accepted_by_the_binary() {
    let mut sb = Sandbox::new();
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/reporter.toml"
    ))
    .unwrap();
    sb.config(&text);
    sb.run(&["slots", "--json"]).ok();
}

/// The example's commented web portal table, uncommented.
fn example_web_config() -> String {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/reporter.toml"
    ))
    .unwrap();
    let (before, web) = text.split_once("\n[portal]\n").expect("a [portal] table");
    let (_, web) = web
        .split_once("# [portal]\n")
        .expect("a commented web table");
    let web: String = web
        .lines()
        .filter(|l| !l.starts_with("# #") && *l != "#")
        .map(|l| l.strip_prefix("# ").unwrap_or(l))
        .map(|l| format!("{l}\n"))
        .collect();
    format!("{before}\n[portal]\n{web}")
}

#[test]
fn the_example_web_portal_config_is_accepted_by_the_binary() {
    let mut sb = Sandbox::new();
    sb.config(&example_web_config());
    sb.run(&["slots", "--json"]).ok();
}

#[test]
fn a_web_portal_without_a_base_url_is_refused_with_an_example() {
    let mut sb = Sandbox::new();
    let path = sb.config("[portal]\nkind = \"web\"\n");
    sb.run(&["slots"]).refused(&format!(
        "config file `{}`: `portal.base_url` = (missing) is not valid: a web portal needs its address, e.g. base_url = \"https://portal.example.com\"",
        path.display()
    ));
}

#[test]
fn an_order_path_without_its_placeholder_is_refused() {
    let mut sb = Sandbox::new();
    let path = sb.config(
        "[portal]\nkind = \"web\"\nbase_url = \"http://127.0.0.1:8080\"\n[portal.paths]\norder = \"/orders/\"\n",
    );
    sb.run(&["slots"]).refused(&format!(
        "config file `{}`: `portal.paths.order` = /orders/ is not valid: it must contain `{{order}}`, where the order id goes",
        path.display()
    ));
}

#[test]
fn simulated_keys_under_a_web_portal_are_refused() {
    let mut sb = Sandbox::new();
    let path = sb
        .config("[portal]\nkind = \"web\"\nbase_url = \"http://127.0.0.1:8080\"\nreport_ms = 5\n");
    sb.run(&["slots"]).refused(&format!(
        "config file `{}`: `portal.kind` = \"web\" is not valid: download_ms, report_ms, failure_rate, report_log and pending_orders belong to kind = \"simulated\"; remove them",
        path.display()
    ));
}

#[test]
fn a_webdriver_url_that_is_not_http_is_refused_from_the_environment() {
    let mut sb = Sandbox::new();
    sb.set_env("REPORTER_WEBDRIVER_URL", "localhost:9515");
    sb.run(&["slots"]).refused(
        "environment variable `REPORTER_WEBDRIVER_URL`=localhost:9515 is not valid: give an http:// or https:// URL",
    );
}

#[test]
fn a_config_path_naming_a_fifo_or_a_directory_is_refused_without_waiting() {
    let sb = Sandbox::new();
    let fifo = sb.path("config.fifo");
    let name = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid path; creates a FIFO that nobody ever writes to.
    assert_eq!(unsafe { libc::mkfifo(name.as_ptr(), 0o600) }, 0);
    let mut child = sb
        .command(&["--config", fifo.to_str().unwrap(), "slots"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            panic!("reading a FIFO as the config hangs");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let run = crate::support::to_run(child.wait_with_output().unwrap());
    run.refused(&format!(
        "config file `{}` is a FIFO, not a file; give --config the path of a TOML file",
        fifo.display()
    ));
    let dir = sb.path("");
    sb.run(&["--config", dir.to_str().unwrap(), "slots"])
        .refused(&format!(
            "config file `{}` is a directory, not a file; give --config the path of a TOML file",
            dir.display()
        ));
}
