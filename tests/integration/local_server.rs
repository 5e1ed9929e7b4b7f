//! Storage emulators the object-store tests start on loopback (moto for S3,
//! Azurite for Azure): finding the program, free ports, the process that is
//! killed when the test ends, raw HTTP requests, and waiting until it answers.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// N different free ports: the listeners are held until all are chosen, so
/// the OS cannot hand the same port out twice (it did, once, in CI).
pub fn free_ports<const N: usize>() -> [u16; N] {
    let listeners: Vec<TcpListener> = (0..N)
        .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    std::array::from_fn(|i| listeners[i].local_addr().unwrap().port())
}

/// A port nothing listens on now (the OS's choice; released at once).
pub fn free_port() -> u16 {
    free_ports::<1>()[0]
}

/// The program `name`: at `$env_var`, on PATH, or in one of `more_dirs`.
/// Without it the test says so and passes locally, but fails under CI (`CI`
/// set), so CI never skips it silently; `install` says how to get it.
pub fn program(env_var: &str, name: &str, more_dirs: &[PathBuf], install: &str) -> Option<PathBuf> {
    let found = std::env::var_os(env_var).map(PathBuf::from).or_else(|| {
        let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).collect())
            .unwrap_or_default();
        dirs.extend_from_slice(more_dirs);
        dirs.into_iter().map(|d| d.join(name)).find(|p| p.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "{name} not found: .ci/run must install it ({install})"
        );
        eprintln!("SKIPPED: no {name} ({install})");
    }
    found
}

/// A server process on loopback, killed when the test ends.
pub struct Server {
    child: Child,
    pub port: u16,
    /// Its data folder, removed after the process is gone.
    _data: Option<tempfile::TempDir>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// Start `program` with `args` (its output discarded).
    pub fn start(
        program: &PathBuf,
        args: &[&str],
        port: u16,
        data: Option<tempfile::TempDir>,
    ) -> Server {
        let child = Command::new(program)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{} starts: {e}", program.display()));
        Server {
            child,
            port,
            _data: data,
        }
    }

    /// Send `request()` until its response starts with `status` (the server
    /// is up and did it), for at most 30 s.
    pub fn until(&self, request: impl Fn() -> String, status: &str) {
        let started = Instant::now();
        loop {
            match http(self.port, &request()) {
                Ok(resp) if resp.starts_with(status) => return,
                _ if started.elapsed() < Duration::from_secs(30) => {
                    std::thread::sleep(Duration::from_millis(200))
                }
                other => panic!(
                    "the server on port {} did not answer {status}: {other:?}",
                    self.port
                ),
            }
        }
    }
}

/// One HTTP/1.1 exchange with 127.0.0.1:`port` (the request says
/// `Connection: close`): the whole response.
pub fn http(port: u16, request: &str) -> std::io::Result<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    s.write_all(request.as_bytes())?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}
