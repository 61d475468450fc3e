//! The games that ship with the server (`games/*.js`), embedded in the binary.
//!
//! They seed the catalogue ([`crate::catalogue`]) at first start, as version 1 of each; a
//! table from before the catalogue whose script is exactly one of them is reported under its
//! name by `GET /api/tables`.

/// One built-in game.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Game {
    /// The file name without `.js`, e.g. `tictactoe`.
    pub name: &'static str,
    /// The script.
    pub source: &'static str,
}

/// Every built-in game, in the order the lobby shows them.
pub const GAMES: &[Game] = &[
    Game {
        name: "tictactoe",
        source: include_str!("../../games/tictactoe.js"),
    },
    Game {
        name: "pong",
        source: include_str!("../../games/pong.js"),
    },
    Game {
        name: "chat",
        source: include_str!("../../games/chat.js"),
    },
    Game {
        name: "guess",
        source: include_str!("../../games/guess.js"),
    },
];

#[cfg(test)]
impl Game {
    /// The first sentence of the script's opening comment, e.g. "Chat: a multi-user chat room,
    /// speaking the GGS 1.0 chat vocabulary."
    pub fn description(&self) -> String {
        describe(self.source)
    }
}

/// The first sentence of a script's opening comment: what the lobby and `/games` show.
pub fn describe(source: &str) -> String {
    let paragraph: Vec<&str> = source
        .lines()
        .map(|l| {
            l.trim()
                .trim_start_matches("/*")
                .trim_start_matches("//")
                .trim_start_matches('*')
                .trim()
        })
        .skip_while(|l| l.is_empty())
        .take_while(|l| !l.is_empty())
        .collect();
    let text = paragraph.join(" ");
    match text.find(". ") {
        Some(end) => text[..=end].to_string(),
        None => text,
    }
}

/// The built-in game called `name`.
#[cfg(test)]
pub fn find(name: &str) -> Option<&'static Game> {
    GAMES.iter().find(|g| g.name == name)
}

/// The name of the built-in game whose source is exactly `source`.
pub fn name_of(source: &str) -> Option<&'static str> {
    GAMES.iter().find(|g| g.source == source).map(|g| g.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_game_is_found_and_described() {
        for game in GAMES {
            assert_eq!(find(game.name), Some(game));
            assert_eq!(name_of(game.source), Some(game.name));
            let description = game.description();
            assert!(
                !description.is_empty() && !description.starts_with('*'),
                "{}: {description:?}",
                game.name
            );
        }
        assert!(find("nope").is_none());
        assert!(name_of("function playerCommand() {}").is_none());
        assert!(find("chat").unwrap().description().starts_with("Chat: "));
        assert_eq!(
            find("pong").unwrap().description(),
            "Pong for two players, speaking the GGS 1.0 pong vocabulary."
        );
    }
}
