//! The mapping tables [`intent`](super::intent) looks signals up in; the
//! parent module's documentation shows them as tables.

use super::IntentKind;
use crate::signals::error::SchemaCode;
use crate::signals::types::*;

/// The result of a table row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Trade. `close_all`: the whole position, ignoring any quantity.
    /// `reverse`: an opposite position is closed first (the strategy
    /// flipped).
    Trade {
        kind: IntentKind,
        close_all: bool,
        reverse: bool,
    },
    /// Refuse the signal with this code.
    Reject(SchemaCode),
}

const fn trade(kind: IntentKind) -> Outcome {
    Outcome::Trade {
        kind,
        close_all: false,
        reverse: false,
    }
}

const fn close_all(kind: IntentKind) -> Outcome {
    Outcome::Trade {
        kind,
        close_all: true,
        reverse: false,
    }
}

const fn reverse(kind: IntentKind) -> Outcome {
    Outcome::Trade {
        kind,
        close_all: false,
        reverse: true,
    }
}

const INCONSISTENT: Outcome = Outcome::Reject(SchemaCode::InconsistentPosition);
const BAD_SENTIMENT: Outcome = Outcome::Reject(SchemaCode::InvalidSentimentAction);

/// A row of [`STRATEGY_POSITION_TABLE`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StrategyPositionRow {
    pub action: OrderSide,
    pub prev: Option<MarketPosition>,
    pub now: MarketPosition,
    pub outcome: Outcome,
}

const fn sp(
    action: OrderSide,
    prev: Option<MarketPosition>,
    now: MarketPosition,
    outcome: Outcome,
) -> StrategyPositionRow {
    StrategyPositionRow {
        action,
        prev,
        now,
        outcome,
    }
}

use IntentKind::{LongEntry, LongExit, ShortEntry, ShortExit};
use MarketPosition::{Flat as F, Long as L, Short as S};
use OrderSide::{Buy, Sell};

/// Strategy alerts with `strategy_market_position`: every combination.
pub const STRATEGY_POSITION_TABLE: [StrategyPositionRow; 24] = [
    sp(Buy, None, F, close_all(ShortExit)),
    sp(Buy, None, L, trade(LongEntry)),
    sp(Buy, None, S, trade(ShortExit)),
    sp(Buy, Some(F), F, INCONSISTENT),
    sp(Buy, Some(F), L, trade(LongEntry)),
    sp(Buy, Some(F), S, INCONSISTENT),
    sp(Buy, Some(L), F, INCONSISTENT),
    sp(
        Buy,
        Some(L),
        L,
        trade(IntentKind::Add {
            side: Some(Side::Long),
        }),
    ),
    sp(Buy, Some(L), S, INCONSISTENT),
    sp(Buy, Some(S), F, close_all(ShortExit)),
    sp(Buy, Some(S), L, reverse(LongEntry)),
    sp(Buy, Some(S), S, trade(ShortExit)),
    sp(Sell, None, F, close_all(LongExit)),
    sp(Sell, None, L, trade(LongExit)),
    sp(Sell, None, S, trade(ShortEntry)),
    sp(Sell, Some(F), F, INCONSISTENT),
    sp(Sell, Some(F), L, INCONSISTENT),
    sp(Sell, Some(F), S, trade(ShortEntry)),
    sp(Sell, Some(L), F, close_all(LongExit)),
    sp(Sell, Some(L), L, trade(LongExit)),
    sp(Sell, Some(L), S, reverse(ShortEntry)),
    sp(Sell, Some(S), F, INCONSISTENT),
    sp(Sell, Some(S), L, INCONSISTENT),
    sp(
        Sell,
        Some(S),
        S,
        trade(IntentKind::Add {
            side: Some(Side::Short),
        }),
    ),
];

/// A row of [`STRATEGY_ORDER_ID_TABLE`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StrategyOrderIdRow {
    /// The side the order id names.
    pub order_id_side: Side,
    pub action: OrderSide,
    pub outcome: Outcome,
}

/// Strategy alerts without market position: the reference's table.
pub const STRATEGY_ORDER_ID_TABLE: [StrategyOrderIdRow; 4] = [
    StrategyOrderIdRow {
        order_id_side: Side::Long,
        action: Buy,
        outcome: trade(LongEntry),
    },
    StrategyOrderIdRow {
        order_id_side: Side::Long,
        action: Sell,
        outcome: close_all(LongExit),
    },
    StrategyOrderIdRow {
        order_id_side: Side::Short,
        action: Sell,
        outcome: trade(ShortEntry),
    },
    StrategyOrderIdRow {
        order_id_side: Side::Short,
        action: Buy,
        outcome: close_all(ShortExit),
    },
];

/// A row of [`TRADERSPOST_TABLE`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TradersPostRow {
    pub action: Action,
    pub sentiment: Option<Sentiment>,
    pub outcome: Outcome,
}

const fn tp(action: Action, sentiment: Option<Sentiment>, outcome: Outcome) -> TradersPostRow {
    TradersPostRow {
        action,
        sentiment,
        outcome,
    }
}

use Sentiment::{Bearish, Bullish, Flat};

/// TradersPost-style signals: every action × sentiment.
pub const TRADERSPOST_TABLE: [TradersPostRow; 20] = [
    tp(Action::Buy, None, trade(LongEntry)),
    tp(Action::Buy, Some(Bullish), trade(LongEntry)),
    tp(Action::Buy, Some(Bearish), trade(ShortExit)),
    tp(Action::Buy, Some(Flat), close_all(ShortExit)),
    tp(Action::Sell, None, trade(ShortEntry)),
    tp(Action::Sell, Some(Bearish), trade(ShortEntry)),
    tp(Action::Sell, Some(Bullish), trade(LongExit)),
    tp(Action::Sell, Some(Flat), close_all(LongExit)),
    tp(Action::Exit, None, close_all(IntentKind::Exit)),
    tp(Action::Exit, Some(Flat), close_all(IntentKind::Exit)),
    tp(Action::Exit, Some(Bullish), BAD_SENTIMENT),
    tp(Action::Exit, Some(Bearish), BAD_SENTIMENT),
    tp(Action::Cancel, None, trade(IntentKind::Cancel)),
    tp(Action::Cancel, Some(Flat), trade(IntentKind::Cancel)),
    tp(Action::Cancel, Some(Bullish), BAD_SENTIMENT),
    tp(Action::Cancel, Some(Bearish), BAD_SENTIMENT),
    tp(Action::Add, None, trade(IntentKind::Add { side: None })),
    tp(
        Action::Add,
        Some(Bullish),
        trade(IntentKind::Add {
            side: Some(Side::Long),
        }),
    ),
    tp(
        Action::Add,
        Some(Bearish),
        trade(IntentKind::Add {
            side: Some(Side::Short),
        }),
    ),
    tp(Action::Add, Some(Flat), BAD_SENTIMENT),
];

/// A row of [`MULTI_LEG_TABLE`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MultiLegRow {
    pub alert_type: AlertType,
    pub outcome: Outcome,
}

/// Multi-leg bodies by `alertType`.
pub const MULTI_LEG_TABLE: [MultiLegRow; 3] = [
    MultiLegRow {
        alert_type: AlertType::MultiLegOrder,
        outcome: trade(IntentKind::Orders),
    },
    MultiLegRow {
        alert_type: AlertType::SingleOrder,
        outcome: trade(IntentKind::Orders),
    },
    MultiLegRow {
        alert_type: AlertType::CancelOrder,
        outcome: trade(IntentKind::Cancel),
    },
];
