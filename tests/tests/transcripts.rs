//! Golden transcripts: for each game in `games/`, the lines clients send in line mode and the
//! lines they must receive, run against the real binary (see `tests/transcripts/README.md`).
//!
//! The list of transcripts is [`TRANSCRIPTS`]; each is `tests/transcripts/<name>/transcript.txt`.
//! A test checks that every game in `games/` has one.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use ggs_tests::{games_dir, LineClient, RecvError, ServerOptions, ServerProcess};

/// Every transcript, by directory name under `tests/transcripts/`.
const TRANSCRIPTS: &[&str] = &["chat", "guess", "pong", "tictactoe"];

/// How long `quiet` waits for a line that must not come.
const QUIET: Duration = Duration::from_millis(300);
/// How long a `<?` step may skip lines before its line arrives.
const SKIP_TIMEOUT: Duration = Duration::from_secs(10);
/// Most lines a `<?` step may skip.
const MAX_SKIPPED: usize = 1_000;

macro_rules! transcript_tests {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                run(stringify!($name));
            }
        )*

        /// The names the macro made tests of, to check them against [`TRANSCRIPTS`].
        const TESTED: &[&str] = &[$(stringify!($name)),*];
    };
}

transcript_tests!(chat, guess, pong, tictactoe);

fn transcripts_dir() -> PathBuf {
    ggs_tests::tests_dir().join("transcripts")
}

#[test]
fn every_game_has_a_transcript() {
    let mut games: Vec<String> = std::fs::read_dir(games_dir())
        .expect("games/ exists")
        .filter_map(|e| {
            let name = e.ok()?.file_name().to_string_lossy().into_owned();
            name.strip_suffix(".js").map(str::to_string)
        })
        .collect();
    games.sort();
    let mut dirs: Vec<String> = std::fs::read_dir(transcripts_dir())
        .expect("tests/transcripts/ exists")
        .filter_map(|e| {
            let e = e.ok()?;
            e.file_type()
                .ok()?
                .is_dir()
                .then(|| e.file_name().to_string_lossy().into_owned())
        })
        .collect();
    dirs.sort();
    assert_eq!(games, TRANSCRIPTS, "games/ and TRANSCRIPTS differ");
    assert_eq!(
        dirs, TRANSCRIPTS,
        "tests/transcripts/ and TRANSCRIPTS differ"
    );
    let mut tested = TESTED.to_vec();
    tested.sort();
    assert_eq!(
        tested, TRANSCRIPTS,
        "transcript_tests! and TRANSCRIPTS differ"
    );
}

/// One step of a transcript.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    /// `A> line`: client A sends the line (placeholders filled in).
    Send(String, String),
    /// `A< pattern`: A's next line matches.
    Expect(String, Pattern),
    /// `A<? pattern`: A skips lines until one matches.
    Skip(String, Pattern),
    /// `A: quiet`: nothing arrives for A for a moment.
    Quiet(String),
    /// `A: closed`: the server closes A's connection.
    Closed(String),
    /// `A: close`: A closes its connection.
    Close(String),
    /// `A: wait <ms>`: pause, e.g. to let some ticks pass.
    Wait(Duration),
}

/// Parses a transcript: `#` lines and blank lines are comments.
fn parse(text: &str) -> Result<Vec<(usize, Step)>, String> {
    let mut steps = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let number = i + 1;
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let client: String = line
            .chars()
            .take_while(char::is_ascii_alphanumeric)
            .collect();
        let rest = &line[client.len()..];
        let bad = || format!("line {number}: cannot read {line:?}");
        if client.is_empty() {
            return Err(bad());
        }
        let step = if let Some(text) = rest.strip_prefix("> ") {
            Step::Send(client, text.strip_suffix('$').unwrap_or(text).to_string())
        } else if rest == ">" {
            Step::Send(client, String::new())
        } else if let Some(text) = rest.strip_prefix("<? ") {
            Step::Skip(
                client,
                Pattern::parse(text).map_err(|e| format!("line {number}: {e}"))?,
            )
        } else if let Some(text) = rest.strip_prefix("< ") {
            Step::Expect(
                client,
                Pattern::parse(text).map_err(|e| format!("line {number}: {e}"))?,
            )
        } else if let Some(word) = rest.strip_prefix(": ") {
            match word.split_whitespace().collect::<Vec<_>>().as_slice() {
                ["quiet"] => Step::Quiet(client),
                ["closed"] => Step::Closed(client),
                ["close"] => Step::Close(client),
                ["wait", ms] => Step::Wait(Duration::from_millis(ms.parse().map_err(|_| bad())?)),
                _ => return Err(bad()),
            }
        } else {
            return Err(bad());
        };
        steps.push((number, step));
    }
    Ok(steps)
}

/// A piece of an expected line.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    /// Exactly this text.
    Text(String),
    /// `{X}`: an id-like word (letters, digits, `-`), bound to X on first use.
    Var(String),
    /// `{X:n}`: the first n characters of X, which must be bound.
    Prefix(String, usize),
    /// `{*}`: any text.
    Any,
}

/// An expected line with placeholders, and its text as written.
#[derive(Clone, PartialEq, Eq)]
struct Pattern(Vec<Piece>, String);

impl std::fmt::Debug for Pattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.1)
    }
}

type Vars = HashMap<String, String>;

impl Pattern {
    fn parse(text: &str) -> Result<Pattern, String> {
        let text = text.strip_suffix('$').unwrap_or(text);
        let mut pieces = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            let Some(close) = rest[open..].find('}').map(|c| open + c) else {
                break;
            };
            let inner = &rest[open + 1..close];
            let word = |w: &str| !w.is_empty() && w.chars().all(|c| c.is_ascii_alphanumeric());
            let prefix = inner
                .split_once(':')
                .filter(|(name, _)| word(name))
                .and_then(|(name, n)| Some((name, n.parse::<usize>().ok()?)));
            let piece = if inner == "*" {
                Piece::Any
            } else if let Some((name, n)) = prefix {
                Piece::Prefix(name.to_string(), n)
            } else if word(inner) {
                Piece::Var(inner.to_string())
            } else {
                // Not a placeholder (e.g. JSON in a line): literal text.
                pieces.push(Piece::Text(rest[..=open].to_string()));
                rest = &rest[open + 1..];
                continue;
            };
            pieces.push(Piece::Text(rest[..open].to_string()));
            pieces.push(piece);
            rest = &rest[close + 1..];
        }
        pieces.push(Piece::Text(rest.to_string()));
        pieces.retain(|p| *p != Piece::Text(String::new()));
        Ok(Pattern(pieces, text.to_string()))
    }

    /// Whether `line` matches; binds new variables into `vars` only on a match.
    fn matches(&self, line: &str, vars: &mut Vars) -> bool {
        let mut bound = vars.clone();
        if match_from(&self.0, line, &mut bound) {
            *vars = bound;
            true
        } else {
            false
        }
    }
}

fn match_from(pieces: &[Piece], line: &str, vars: &mut Vars) -> bool {
    let Some((first, rest)) = pieces.split_first() else {
        return line.is_empty();
    };
    let literal = |text: &str, vars: &mut Vars| {
        line.strip_prefix(text)
            .is_some_and(|after| match_from(rest, after, vars))
    };
    match first {
        Piece::Text(text) => literal(text, vars),
        Piece::Prefix(name, n) => match vars.get(name) {
            Some(value) => {
                let prefix: String = value.chars().take(*n).collect();
                literal(&prefix, vars)
            }
            None => false,
        },
        Piece::Var(name) => {
            if let Some(value) = vars.get(name).cloned() {
                return literal(&value, vars);
            }
            let word = line
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
                .unwrap_or(line.len());
            // Longest word first, then shorter ones.
            (1..=word).rev().any(|end| {
                let mut tried = vars.clone();
                tried.insert(name.clone(), line[..end].to_string());
                if match_from(rest, &line[end..], &mut tried) {
                    *vars = tried;
                    true
                } else {
                    false
                }
            })
        }
        Piece::Any => (0..=line.len())
            .filter(|i| line.is_char_boundary(*i))
            .any(|i| match_from(rest, &line[i..], vars)),
    }
}

/// Fills `{X}` placeholders of a line to send.
fn fill(line: &str, vars: &Vars) -> String {
    let mut out = line.to_string();
    for (name, value) in vars {
        out = out.replace(&format!("{{{name}}}"), value);
    }
    out
}

/// Runs `tests/transcripts/<name>/transcript.txt` against a fresh server.
fn run(name: &str) {
    let path = transcripts_dir().join(name).join("transcript.txt");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let steps = parse(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let server = ServerProcess::start_with(ServerOptions::no_seat_grace());
    let mut clients: HashMap<String, LineClient> = HashMap::new();
    let mut vars = Vars::new();
    let mut seen: HashMap<String, Vec<String>> = HashMap::new();
    for (number, step) in steps {
        let at = |client: &str, seen: &HashMap<String, Vec<String>>| {
            let recent = seen.get(client).map(|l| l.as_slice()).unwrap_or(&[]);
            let recent = &recent[recent.len().saturating_sub(10)..];
            format!(
                "{}:{number}: client {client}; its last lines were:\n    {}",
                path.display(),
                recent.join("\n    ")
            )
        };
        match step {
            Step::Send(c, line) => client(&mut clients, &server, &c).send(&fill(&line, &vars)),
            Step::Expect(c, pattern) => {
                let client = client(&mut clients, &server, &c);
                let line = match client.try_recv(ggs_tests::client::RECV_TIMEOUT) {
                    Ok(line) => line,
                    Err(e) => panic!("{}\nexpected {pattern:?}, but {e}", at(&c, &seen)),
                };
                seen.entry(c.clone()).or_default().push(line.clone());
                assert!(
                    pattern.matches(&line, &mut vars),
                    "{}\nexpected {pattern:?}\ngot      {line:?}",
                    at(&c, &seen)
                );
            }
            Step::Skip(c, pattern) => {
                let client = client(&mut clients, &server, &c);
                let deadline = Instant::now() + SKIP_TIMEOUT;
                let mut skipped = 0;
                loop {
                    let left = deadline.saturating_duration_since(Instant::now());
                    let line = match client.try_recv(left) {
                        Ok(line) => line,
                        Err(e) => panic!("{}\nskipping to {pattern:?}, but {e}", at(&c, &seen)),
                    };
                    seen.entry(c.clone()).or_default().push(line.clone());
                    if pattern.matches(&line, &mut vars) {
                        break;
                    }
                    skipped += 1;
                    assert!(
                        skipped < MAX_SKIPPED,
                        "{}\n{MAX_SKIPPED} lines came without {pattern:?}",
                        at(&c, &seen)
                    );
                }
            }
            Step::Quiet(c) => {
                let client = client(&mut clients, &server, &c);
                match client.try_recv(QUIET) {
                    Err(RecvError::Timeout) => {}
                    Ok(line) => panic!("{}\nexpected nothing, got {line:?}", at(&c, &seen)),
                    Err(e) => panic!("{}\nexpected nothing, but {e}", at(&c, &seen)),
                }
            }
            Step::Closed(c) => {
                let client = clients.get_mut(&c).expect("a client that was connected");
                match client.try_recv(ggs_tests::client::RECV_TIMEOUT) {
                    Err(RecvError::Closed) => {}
                    Ok(line) => panic!("{}\nexpected the end, got {line:?}", at(&c, &seen)),
                    Err(e) => panic!("{}\nexpected the end, but {e}", at(&c, &seen)),
                }
            }
            Step::Close(c) => {
                if let Some(client) = clients.remove(&c) {
                    client.close();
                }
            }
            Step::Wait(pause) => std::thread::sleep(pause),
        }
    }
}

/// Client `name`, connected on first use.
fn client<'a>(
    clients: &'a mut HashMap<String, LineClient>,
    server: &ServerProcess,
    name: &str,
) -> &'a mut LineClient {
    clients
        .entry(name.to_string())
        .or_insert_with(|| LineClient::connect(server.tcp_addr()).named(name))
}

#[test]
fn patterns_bind_and_check_placeholders() {
    let mut vars = Vars::new();
    let hello = Pattern::parse("hello {A},true,{T}").unwrap();
    assert!(hello.matches("hello 6f1c-aa,true,77-bb", &mut vars));
    assert_eq!(vars["A"], "6f1c-aa");
    assert_eq!(vars["T"], "77-bb");
    let nick = Pattern::parse("notice guest-{A:4} joined").unwrap();
    assert!(nick.matches("notice guest-6f1c joined", &mut vars));
    assert!(!nick.matches("notice guest-6f1d joined", &mut vars));
    let again = Pattern::parse("who {A:8} (you)").unwrap();
    assert!(!again.matches("who 6f1c-aa (you)", &mut Vars::new()));
    let any = Pattern::parse("ball {*},{*}").unwrap();
    assert!(any.matches("ball 50,52.5", &mut vars));
    assert!(!any.matches("ball 50", &mut vars));
    let json = Pattern::parse(r#"set {"x":1}"#).unwrap();
    assert!(json.matches(r#"set {"x":1}"#, &mut vars));
    let range = Pattern::parse(r#"warning send {"x":0-2,"y":0-2}"#).unwrap();
    assert!(range.matches(r#"warning send {"x":0-2,"y":0-2}"#, &mut vars));
    let spaces = Pattern::parse("game_board X   $").unwrap();
    assert!(spaces.matches("game_board X   ", &mut vars));
    assert!(!spaces.matches("game_board X", &mut vars));
    assert_eq!(fill("/hello {T}", &vars), "/hello 77-bb");
    let failed = Pattern::parse("x {B} y").unwrap();
    assert!(!failed.matches("x 1 z", &mut vars));
    assert!(!vars.contains_key("B"), "a failed match binds nothing");
    let steps = parse("# c\n\nA> /hello chat\nA< welcome {*}\nB<? ball {*}\nA: quiet\nA: wait 5\n")
        .unwrap();
    assert_eq!(steps.len(), 5);
    assert!(parse("> x").is_err());
    assert!(parse("A! x").is_err());
}
