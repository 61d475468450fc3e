//! Tic-tac-toe with the sample script games/tictactoe.js: player 2 wins, then `new` and a draw.

use ggs_tests::{game_source, Client, ServerOptions, ServerProcess};

/// Both players of one table and the board as the test expects it.
struct Game {
    p1: Client,
    p2: Client,
    board: [u8; 9],
}

impl Game {
    /// Puts the next mark at (x, y) for `seat` (1 moves X, 2 moves O) and checks what both see:
    /// the board to both, then `yourturn` to the other player unless the game ended.
    /// Returns the board as sent.
    #[track_caller]
    fn play(&mut self, seat: u8, x: usize, y: usize) -> String {
        let mark = if seat == 1 { b'X' } else { b'O' };
        self.board[y * 3 + x] = mark;
        let board = String::from_utf8(self.board.to_vec()).unwrap();
        let (mover, other) = self.players(seat);
        mover.command("set", &format!("{{\"x\":{x},\"y\":{y}}}"));
        mover.expect("game_board", &board);
        other.expect("game_board", &board);
        board
    }

    fn players(&mut self, seat: u8) -> (&mut Client, &mut Client) {
        if seat == 1 {
            (&mut self.p1, &mut self.p2)
        } else {
            (&mut self.p2, &mut self.p1)
        }
    }

    /// The move did not end the game: the other player is told to move, and only they.
    #[track_caller]
    fn turn_passes_to(&mut self, seat: u8) {
        self.players(seat).0.expect("yourturn", "");
    }
}

#[test]
fn player_two_wins_then_a_draw() {
    let server = ServerProcess::start_with(ServerOptions::no_seat_grace());
    let mut p1 = server.connect().named("player 1");
    let table = p1.hello(None).table;
    p1.define_ok(&game_source("tictactoe.js"));
    let mut p2 = server.connect().named("player 2");
    assert!(p2.hello(Some(&table)).defined);

    // Moving before sitting down is refused.
    p1.command("set", r#"{"x":0,"y":0}"#);
    p1.expect("warning", "not seated: send hi to play");

    p1.command("hi", "");
    p1.expect("welcome", "1");
    p1.command("set", r#"{"x":0,"y":0}"#);
    p1.expect("warning", "waiting for opponent");
    p2.command("hi", "");
    p2.expect("welcome", "2");
    let empty = " ".repeat(9);
    p2.expect("game_board", &empty);
    p1.expect("game_board", &empty);
    p1.expect("yourturn", "");

    // A third player is turned away.
    let mut p3 = server.connect().named("player 3");
    p3.hello(Some(&table));
    p3.command("hi", "");
    p3.expect("not_welcome", "table is full");
    p3.close();

    let mut game = Game {
        p1,
        p2,
        board: [b' '; 9],
    };
    // Out of turn, bad moves and taken squares change nothing.
    game.p2.command("set", r#"{"x":1,"y":1}"#);
    game.p2.expect("warning", "not your turn");
    game.p1.command("set", r#"{"x":3,"y":0}"#);
    game.p1
        .expect("warning", r#"bad move: send {"x":0-2,"y":0-2}"#);
    game.p1.command("set", "nonsense");
    game.p1
        .expect("warning", r#"bad move: send {"x":0-2,"y":0-2}"#);

    // X: (0,0) (1,0) (0,1); O: (2,0) (2,1) (2,2): O wins the right column.
    game.play(1, 0, 0);
    game.turn_passes_to(2);
    game.p2.command("set", r#"{"x":0,"y":0}"#);
    game.p2.expect("warning", "square taken");
    game.play(2, 2, 0);
    game.turn_passes_to(1);
    game.play(1, 1, 0);
    game.turn_passes_to(2);
    game.play(2, 2, 1);
    game.turn_passes_to(1);
    game.play(1, 0, 1);
    game.turn_passes_to(2);
    let last = game.play(2, 2, 2);
    assert_eq!(last, "XXOX O  O");
    game.p2.expect("winner", "O");
    game.p1.expect("loser", "O");

    // The game is over until someone sends new.
    game.p1.command("set", r#"{"x":1,"y":1}"#);
    game.p1
        .expect("warning", "game over: send new to play again");
    game.p2.command("new", "");
    for p in [&mut game.p1, &mut game.p2] {
        p.expect("new_game", "");
        p.expect("game_board", &empty);
    }
    game.p1.expect("yourturn", "");
    game.board = [b' '; 9];

    // X: 0 2 3 7 8, O: 1 4 5 6 (row-major indices), alternating from X: a full board, no line.
    let moves = [
        (1, 0),
        (2, 1),
        (1, 2),
        (2, 4),
        (1, 3),
        (2, 5),
        (1, 7),
        (2, 6),
        (1, 8),
    ];
    for (i, &(seat, index)) in moves.iter().enumerate() {
        let board = game.play(seat, index % 3, index / 3);
        if i + 1 < moves.len() {
            game.turn_passes_to(3 - seat);
        } else {
            assert_eq!(board, "XOXXOOOXX");
        }
    }
    game.p1.expect("draw", "");
    game.p2.expect("draw", "");

    // Player 2 leaves: player 1 is told and the board is reset.
    game.p2.close();
    game.p1.expect("warning", "opponent left");
    game.p1.expect("game_board", &empty);
    game.p1
        .expect_nothing(std::time::Duration::from_millis(100));
}
