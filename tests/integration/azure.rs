//! Azure lakes and output roots against Azurite (the Azure Storage emulator,
//! on loopback), in both URL spellings: `abfss://<container>@<account>.dfs.core.windows.net/path`
//! and `az://<container>/path`, configured only through object_store's
//! standard variables (`AZURE_STORAGE_USE_EMULATOR`, `AZURITE_BLOB_STORAGE_URL`,
//! `AZURE_STORAGE_ACCOUNT_NAME`).
//!
//! The server is `azurite-blob` from the npm registry (`npm install
//! azurite@3.35.0`), found at `$CRMLAKE_AZURITE`, on PATH, or where `.ci/run`
//! installs it (`~/.cache/crmlake/azurite/node_modules/.bin/`). Without it the
//! test says so and passes locally, but fails under CI (`CI` set).

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use base64::Engine;
use hmac::{KeyInit, Mac};

use crate::common::*;
use crate::local_server::{free_port, program, Server};

/// Azurite's well-known development account and key.
const ACCOUNT: &str = "devstoreaccount1";
const KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

fn azurite() -> Option<PathBuf> {
    let cache = std::env::var_os("HOME")
        .map(|h| PathBuf::from(h).join(".cache/crmlake/azurite/node_modules/.bin"));
    program(
        "CRMLAKE_AZURITE",
        "azurite-blob",
        cache.as_slice(),
        "npm install azurite@3.35.0",
    )
}

/// `PUT /<account>/<container>?restype=container`, signed with the account
/// key (SharedKey): object_store reads and writes blobs but does not create
/// containers.
fn container_request(port: u16, container: &str) -> String {
    let date = chrono::Utc::now()
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string();
    let version = "2021-08-06";
    let to_sign = format!(
        "PUT\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:{date}\nx-ms-version:{version}\n/{ACCOUNT}/{ACCOUNT}/{container}\nrestype:container"
    );
    let key = base64::engine::general_purpose::STANDARD
        .decode(KEY)
        .unwrap();
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
    mac.update(to_sign.as_bytes());
    let signature = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    format!(
        "PUT /{ACCOUNT}/{container}?restype=container HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\
         x-ms-date: {date}\r\nx-ms-version: {version}\r\n\
         Authorization: SharedKey {ACCOUNT}:{signature}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
}

/// Azurite's blob service on a free port, with `containers` made.
fn start(containers: &[&str]) -> Option<Server> {
    let bin = azurite()?;
    let port = free_port();
    let data = tempfile::tempdir().unwrap();
    let location = data.path().to_str().unwrap().to_string();
    let port_text = port.to_string();
    let args = [
        "--blobHost",
        "127.0.0.1",
        "--blobPort",
        &port_text,
        "--location",
        &location,
        "--silent",
        "--skipApiVersionCheck",
        "--loose",
    ];
    let server = Server::start(&bin, &args, port, Some(data));
    for container in containers {
        // A fresh request each time: its date is part of the signature.
        server.until(|| container_request(port, container), "HTTP/1.1 201");
    }
    Some(server)
}

fn crmlake_azure(port: u16, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_crmlake"))
        .args(args)
        .current_dir(root())
        .env("AZURE_STORAGE_USE_EMULATOR", "true")
        .env(
            "AZURITE_BLOB_STORAGE_URL",
            format!("http://127.0.0.1:{port}"),
        )
        .env("AZURE_STORAGE_ACCOUNT_NAME", ACCOUNT)
        .stdin(Stdio::null())
        .output()
        .expect("crmlake runs")
}

#[test]
fn azure_urls_name_container_and_account_for_lakes_and_job_outputs() {
    let Some(server) = start(&["sales", "crm"]) else {
        return;
    };
    let port = server.port;
    let abfss = |container: &str, path: &str| {
        format!("abfss://{container}@{ACCOUNT}.dfs.core.windows.net/{path}")
    };
    // Write a partitioned table into container 'sales' ...
    ok(crmlake_azure(
        port,
        &[
            "sql",
            "-c",
            &format!(
                "CREATE EXTERNAL TABLE c STORED AS PARQUET LOCATION '{}/'; \
                 COPY (SELECT customer_id, country FROM c WHERE country IN ('Iceland', 'Finland')) \
                 TO '{}' STORED AS PARQUET PARTITIONED BY (country)",
                root().join("data/lake/customers").display(),
                abfss("sales", "lake/nordics/")
            ),
        ],
    ));
    // ... and read it back as a lake, through both spellings of the URL.
    let query = "SELECT country, count(*) AS n FROM nordics GROUP BY country ORDER BY country";
    let want = "country,n\nFinland,12\nIceland,1\n";
    for lake in [abfss("sales", "lake"), "az://sales/lake".to_string()] {
        let o = crmlake_azure(
            port,
            &["sql", "--lake", &lake, "--format", "csv", "-c", query],
        );
        assert_eq!(ok(o), want, "{lake}");
    }
    // The container is the URL's user name, not its host: container 'crm'
    // of the same account is another store and has no such table.
    user_error(
        crmlake_azure(
            port,
            &[
                "sql",
                "--lake",
                &abfss("crm", "lake"),
                "-c",
                "SELECT * FROM nordics",
            ],
        ),
        &["nordics"],
    );

    // A job whose output root is in container 'crm': commits, locks and
    // reruns as on S3; messages show the container, not a credential.
    let dir = tempfile::tempdir().unwrap();
    let job = dir.path().join("job.toml");
    std::fs::write(
        &job,
        "name = \"az\"\n[[steps]]\ntable = \"countries\"\n\
         sql = \"SELECT country, count(*) AS customers FROM customers GROUP BY country\"\n\
         reject = [{ reason = \"iceland\", when = \"country = 'Iceland'\" }]\n",
    )
    .unwrap();
    let out = abfss("crm", "out");
    for _ in 0..2 {
        let o = crmlake_azure(
            port,
            &[
                "run",
                job.to_str().unwrap(),
                "--lake",
                &sample_lake(),
                "--out",
                &out,
                "--run-date",
                "2024-01-31",
            ],
        );
        let text = ok(o);
        assert!(
            text.contains(&format!("{out}/countries/run_date=2024-01-31/")),
            "{text}"
        );
    }
    let o = crmlake_azure(
        port,
        &[
            "sql",
            "--lake",
            &out,
            "--format",
            "csv",
            "-c",
            "SELECT count(*) AS n, sum(customers) AS customers FROM countries",
        ],
    );
    assert_eq!(ok(o), "n,customers\n36,4371\n");
}
