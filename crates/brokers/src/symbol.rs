//! Symbols: what asset class a ticker is, and how each broker spells it.
//!
//! Signals name instruments the way TradingView renders `{{ticker}}`
//! (`BTCUSD`, `AAPL`), sometimes with an exchange prefix
//! (`BINANCE:BTCUSDT`), a perpetual suffix (`BTCUSDT.P`) or a separator
//! (`BTC/USD`, `BTC-USD`). Brokers want their own forms: Alpaca orders take
//! `BTC/USD`, Alpaca positions report `BTCUSD`, and the Hyperliquid feed
//! prices the base asset alone (`BTC`). So a symbol is parsed once into base,
//! quote and class, and rendered per use.
//!
//! # Rules, in order
//!
//! 1. Trim and upper-case. Empty → [`AssetClass::Unknown`].
//! 2. An exchange prefix (`EXCHANGE:`) is stripped; a delayed-data suffix on
//!    it (`_DL`, `_DLY`) too. A known exchange is a hint: crypto exchanges
//!    (`BINANCE`, `COINBASE`, ...) accept any base/quote shape; forex venues
//!    (`OANDA`, `FX`, ...) allow only forex; futures venues (`CME`, ...) give
//!    Unknown. Unknown exchanges give no hint.
//! 3. Anything with characters other than `A-Z 0-9 . / - _` is Unknown
//!    (continuous futures such as `ES1!`, spaces in option symbols).
//! 4. **Crypto**: a perpetual suffix (`.P`, `PERP`, `-PERP`, `_PERP`) is
//!    dropped (we trade the spot pair). Then `BASE/QUOTE`, `BASE-QUOTE` or
//!    `BASE_QUOTE` whose quote is a crypto quote ([`CRYPTO_QUOTES`]) or fiat
//!    (any letters-and-digits base: `FOO/USD` is crypto), or `BASEQUOTE`
//!    split at such a quote (longest first, so `BTCUSDT` is `BTC`+`USDT`,
//!    not `BTCU`+`SDT`) where the base is in the table of known coins
//!    ([`CRYPTO_BASES`]), or any base on a crypto exchange. Two fiat
//!    currencies are never crypto (`EUR/USD` is forex, `EUR/USDT` crypto).
//!    A bare base is crypto only with a
//!    perpetual suffix (`BTC.P`) or a crypto-exchange prefix: a bare `BTC`
//!    or `LINK` is a US stock or ETF ticker (the Grayscale Bitcoin Mini
//!    Trust trades as `BTC`, Interlink Electronics as `LINK`), and TradingView
//!    always renders crypto tickers with their quote. `XBT` is read as `BTC`.
//! 5. **Forex**: two ISO 4217 fiat codes, `EURUSD` or `EUR/USD` ([`FIAT`]).
//!    Metals (`XAUUSD`) and CFD indices are Unknown.
//! 6. **Equity**: 1 to 5 letters, optionally a share class of 1 or 2 letters
//!    after `.`, `/` or `-`: `AAPL`, `X`, `BRK.B`. **`BRK/B` and `BRK-B` are
//!    read as the class-B share `BRK.B`** (the form Alpaca and TradingView
//!    use), since `B` is neither a crypto quote nor a currency.
//! 7. Everything else is Unknown (futures such as `MNQU2025`, 6+ letter
//!    tickers that are neither crypto nor forex).

use std::fmt;

use serde::{Deserialize, Serialize};

/// What kind of instrument a symbol names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AssetClass {
    Crypto,
    Equity,
    Forex,
    Unknown,
}

impl AssetClass {
    pub fn as_str(self) -> &'static str {
        match self {
            AssetClass::Crypto => "crypto",
            AssetClass::Equity => "equity",
            AssetClass::Forex => "forex",
            AssetClass::Unknown => "unknown",
        }
    }
}

impl fmt::Display for AssetClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A symbol split into its parts.
///
/// - Crypto: `base` the coin (`BTC`), `quote` the quote currency when the
///   symbol had one (`USD`, `USDT`); `None` for `BTC.P`.
/// - Equity: `base` the ticker with a share class after a dot (`BRK.B`),
///   `quote` `None`.
/// - Forex: `base` and `quote` the two currencies.
/// - Unknown: `base` the trimmed, upper-cased input without exchange
///   prefix (may be empty), `quote` `None`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ParsedSymbol {
    pub base: String,
    pub quote: Option<String>,
    pub class: AssetClass,
}

impl ParsedSymbol {
    /// The quote, with USD assumed for crypto without one.
    pub fn quote_or_usd(&self) -> &str {
        self.quote.as_deref().unwrap_or("USD")
    }

    /// One spelling per instrument, used as the paper broker's symbol:
    /// crypto `BTC/USD` (quote defaulting to USD), equity `BRK.B`, forex
    /// `EUR/USD`, otherwise the cleaned input.
    pub fn canonical(&self) -> String {
        match self.class {
            AssetClass::Crypto | AssetClass::Forex => {
                format!("{}/{}", self.base, self.quote_or_usd())
            }
            AssetClass::Equity | AssetClass::Unknown => self.base.clone(),
        }
    }
}

/// Why a symbol cannot be rendered for a broker.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SymbolError {
    #[error("empty symbol")]
    Empty,
    #[error("unrecognised symbol '{0}'")]
    Unrecognized(String),
    #[error("{class} symbol '{symbol}' is not supported by this broker")]
    Unsupported { symbol: String, class: AssetClass },
}

/// Coins we recognise as crypto bases (top coins by market value plus the
/// ones Alpaca lists), including stablecoins so that `USDTUSD` parses.
pub const CRYPTO_BASES: &[&str] = &[
    "1INCH", "AAVE", "ADA", "AERO", "AKT", "ALGO", "ANKR", "APE", "APT", "AR", "ARB", "ATOM",
    "AUDIO", "AVAX", "AXS", "BAL", "BAT", "BCH", "BLUR", "BNB", "BONK", "BTC", "CAKE", "CELO",
    "CHZ", "COMP", "CRO", "CRV", "DAI", "DASH", "DOGE", "DOT", "DYDX", "EGLD", "ENA", "ENJ", "ENS",
    "EOS", "ETC", "ETH", "ETHFI", "FET", "FIL", "FLOKI", "FLOW", "FTM", "GALA", "GMX", "GRT",
    "HBAR", "HNT", "HYPE", "ICP", "ICX", "IMX", "INJ", "JASMY", "JTO", "JUP", "KAS", "KAVA", "KSM",
    "LDO", "LINK", "LRC", "LTC", "MANA", "MATIC", "MEW", "MKR", "NEAR", "NOT", "OM", "ONDO", "ONE",
    "OP", "ORDI", "PENDLE", "PEPE", "POL", "POPCAT", "PYTH", "QNT", "RENDER", "RNDR", "RUNE",
    "SAND", "SEI", "SHIB", "SKL", "SNX", "SOL", "STORJ", "STRK", "STX", "SUI", "SUSHI", "TAO",
    "THETA", "TIA", "TON", "TRUMP", "TRX", "UNI", "USDC", "USDG", "USDT", "VET", "WBTC", "WIF",
    "WLD", "XLM", "XMR", "XRP", "XTZ", "YFI", "ZEC", "ZIL", "ZRX",
];

/// Quote currencies of crypto pairs besides fiat, tried longest first.
pub const CRYPTO_QUOTES: &[&str] = &[
    "FDUSD", "USDT", "USDC", "BUSD", "USDG", "DAI", "USD", "EUR", "BTC", "ETH",
];

/// ISO 4217 codes of traded fiat currencies (forex pairs are two of these).
pub const FIAT: &[&str] = &[
    "AED", "AUD", "BRL", "CAD", "CHF", "CLP", "CNH", "CNY", "COP", "CZK", "DKK", "EUR", "GBP",
    "HKD", "HUF", "IDR", "ILS", "INR", "ISK", "JPY", "KRW", "MXN", "MYR", "NOK", "NZD", "PHP",
    "PLN", "RON", "RUB", "SAR", "SEK", "SGD", "THB", "TRY", "TWD", "USD", "ZAR",
];

/// Other names of the same coin.
const ALIASES: &[(&str, &str)] = &[("XBT", "BTC")];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Venue {
    Crypto,
    Forex,
    Equity,
    Futures,
    Other,
}

fn venue(exchange: &str) -> Venue {
    let ex = exchange
        .strip_suffix("_DLY")
        .or_else(|| exchange.strip_suffix("_DL"))
        .unwrap_or(exchange);
    match ex {
        "BINANCE" | "BINANCEUS" | "COINBASE" | "KRAKEN" | "BYBIT" | "BITSTAMP" | "OKX"
        | "BITGET" | "BITFINEX" | "GEMINI" | "KUCOIN" | "MEXC" | "GATEIO" | "HTX" | "HUOBI"
        | "CRYPTO" | "CRYPTOCAP" | "BITMEX" | "DERIBIT" | "HYPERLIQUID" | "BINGX" | "PHEMEX"
        | "POLONIEX" | "UPBIT" | "BITHUMB" => Venue::Crypto,
        "OANDA" | "FX" | "FX_IDC" | "FXCM" | "FOREXCOM" | "SAXO" | "PEPPERSTONE" | "ICMARKETS"
        | "EIGHTCAP" | "CAPITALCOM" | "FXOPEN" | "BLACKBULL" | "EASYMARKETS" => Venue::Forex,
        "NASDAQ" | "NYSE" | "AMEX" | "NYSEARCA" | "ARCA" | "BATS" | "CBOE" | "OTC"
        | "NYSEAMERICAN" => Venue::Equity,
        "CME" | "CME_MINI" | "CBOT" | "CBOT_MINI" | "COMEX" | "COMEX_MINI" | "NYMEX"
        | "NYMEX_MINI" | "ICEUS" | "ICEEUR" | "EUREX" => Venue::Futures,
        _ => Venue::Other,
    }
}

fn is_crypto_base(s: &str) -> bool {
    CRYPTO_BASES.contains(&s)
}

fn is_fiat(s: &str) -> bool {
    FIAT.contains(&s)
}

fn is_crypto_quote(s: &str) -> bool {
    CRYPTO_QUOTES.contains(&s) || is_fiat(s)
}

fn is_alnum(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

fn is_letters(s: &str, max: usize) -> bool {
    !s.is_empty() && s.len() <= max && s.bytes().all(|b| b.is_ascii_uppercase())
}

fn unalias(base: &str) -> String {
    ALIASES
        .iter()
        .find(|(alias, _)| *alias == base)
        .map_or(base, |(_, real)| real)
        .to_string()
}

fn crypto(base: &str, quote: Option<&str>) -> ParsedSymbol {
    ParsedSymbol {
        base: unalias(base),
        quote: quote.map(unalias),
        class: AssetClass::Crypto,
    }
}

fn unknown(s: &str) -> ParsedSymbol {
    ParsedSymbol {
        base: s.to_string(),
        quote: None,
        class: AssetClass::Unknown,
    }
}

/// Splits `s` at its single separator, if it has exactly one.
fn split_pair(s: &str) -> Option<(&str, &str)> {
    let mut parts = s.split(['/', '-', '_']);
    let (a, b) = (parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    Some((a, b))
}

/// The symbol without a perpetual-contract suffix, if it had one.
fn strip_perp(s: &str) -> Option<&str> {
    [".P", "-PERP", "_PERP", "PERP"]
        .iter()
        .find_map(|suffix| s.strip_suffix(suffix))
        .filter(|rest| !rest.is_empty())
}

fn parse_crypto(s: &str, trusted: bool) -> Option<ParsedSymbol> {
    let known_base = |b: &str| {
        let b = unalias(b);
        is_crypto_base(&b) || (trusted && is_alnum(&b))
    };
    // Two fiat currencies are forex, not crypto.
    let pair_ok =
        |b: &str, q: &str| is_alnum(b) && is_crypto_quote(q) && !(is_fiat(b) && is_fiat(q));
    let (core, perp) = match strip_perp(s) {
        Some(core) => (core, true),
        None => (s, false),
    };
    if let Some((base, quote)) = split_pair(core) {
        // An explicit pair with a crypto quote (`FOO/USD`, `EUR/USDT`) is
        // crypto even for coins missing from the table, so that the
        // canonical form of every crypto symbol parses back to itself.
        return pair_ok(base, quote).then(|| crypto(base, Some(quote)));
    }
    if !is_alnum(core) {
        return None;
    }
    // Longest quotes first: USDT before USD, FDUSD before USD.
    let mut quotes: Vec<&str> = CRYPTO_QUOTES.iter().chain(FIAT).copied().collect();
    quotes.sort_by_key(|q| std::cmp::Reverse(q.len()));
    for quote in quotes {
        if let Some(base) = core.strip_suffix(quote)
            && known_base(base)
            && pair_ok(base, quote)
        {
            return Some(crypto(base, Some(quote)));
        }
    }
    // A bare coin: a known one with a perp suffix or from a crypto
    // exchange (`BTC.P`, `BINANCE:BTC`); any with both (`BYBIT:FOO.P`).
    let bare = ((perp || trusted) && is_crypto_base(&unalias(core))) || (perp && trusted);
    bare.then(|| crypto(core, None))
}

fn parse_forex(s: &str) -> Option<ParsedSymbol> {
    let (base, quote) = match split_pair(s) {
        Some(pair) => pair,
        None if s.len() == 6 && s.is_ascii() => s.split_at(3),
        None => return None,
    };
    (is_fiat(base) && is_fiat(quote) && base != quote).then(|| ParsedSymbol {
        base: base.to_string(),
        quote: Some(quote.to_string()),
        class: AssetClass::Forex,
    })
}

fn parse_equity(s: &str) -> Option<ParsedSymbol> {
    let (ticker, class) = match s.find(['.', '/', '-']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    if !is_letters(ticker, 5) {
        return None;
    }
    let base = match class {
        None => ticker.to_string(),
        Some(c) if is_letters(c, 2) => format!("{ticker}.{c}"),
        Some(_) => return None,
    };
    Some(ParsedSymbol {
        base,
        quote: None,
        class: AssetClass::Equity,
    })
}

/// Parses a symbol as it may arrive in a signal. Never fails: what cannot be
/// read is [`AssetClass::Unknown`]. See the module docs for the rules.
pub fn parse_symbol(symbol: &str) -> ParsedSymbol {
    let upper = symbol.trim().to_ascii_uppercase();
    let (hint, rest) = match upper.split_once(':') {
        Some((exchange, rest)) => (venue(exchange), rest),
        None => (Venue::Other, upper.as_str()),
    };
    if rest.is_empty()
        || hint == Venue::Futures
        || !rest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'/' | b'-' | b'_'))
    {
        return unknown(rest);
    }
    let parsed = match hint {
        Venue::Crypto => parse_crypto(rest, true).or_else(|| parse_forex(rest)),
        Venue::Forex => parse_forex(rest),
        Venue::Equity => parse_equity(rest),
        Venue::Futures => None,
        Venue::Other => parse_crypto(rest, false)
            .or_else(|| parse_forex(rest))
            .or_else(|| parse_equity(rest)),
    };
    parsed.unwrap_or_else(|| unknown(rest))
}

/// The asset class of a symbol (see [`parse_symbol`]).
pub fn get_asset_class(symbol: &str) -> AssetClass {
    parse_symbol(symbol).class
}

fn tradable_on_alpaca(symbol: &str) -> Result<ParsedSymbol, SymbolError> {
    if symbol.trim().is_empty() {
        return Err(SymbolError::Empty);
    }
    let p = parse_symbol(symbol);
    match p.class {
        AssetClass::Crypto | AssetClass::Equity => Ok(p),
        AssetClass::Unknown => Err(SymbolError::Unrecognized(symbol.trim().to_string())),
        class @ AssetClass::Forex => Err(SymbolError::Unsupported {
            symbol: symbol.trim().to_string(),
            class,
        }),
    }
}

/// The symbol for Alpaca's order endpoints: crypto `BTC/USD` (quote
/// defaulting to USD, so `BTC.P` → `BTC/USD`, `BTCUSDT.P` → `BTC/USDT`),
/// equity upper-case with a dot class (`brk/b` → `BRK.B`). Forex and
/// unknown symbols are refused.
pub fn alpaca_order_symbol(symbol: &str) -> Result<String, SymbolError> {
    let p = tradable_on_alpaca(symbol)?;
    Ok(p.canonical())
}

/// The symbol Alpaca uses for positions: crypto without a slash (`BTCUSD`,
/// since `/v2/positions/BTC/USD` is a 404), equity as for orders.
pub fn alpaca_position_symbol(symbol: &str) -> Result<String, SymbolError> {
    let p = tradable_on_alpaca(symbol)?;
    Ok(match p.class {
        AssetClass::Crypto => format!("{}{}", p.base, p.quote_or_usd()),
        _ => p.base,
    })
}

/// The market-data feed's name for a crypto symbol: its base asset
/// (`BTCUSDT`, `BTC/USD`, `BINANCE:BTCUSDT.P` → `BTC`). `None` for other
/// classes. The feed's own scaled names (Hyperliquid's `kPEPE` = 1000 PEPE)
/// are not mapped.
pub fn feed_symbol(symbol: &str) -> Option<String> {
    let p = parse_symbol(symbol);
    (p.class == AssetClass::Crypto).then_some(p.base)
}

/// Whether two symbols name the same instrument: same class and base, and
/// for crypto and forex the same quote (a missing crypto quote counts as
/// USD; `BTCUSD` and `BTCUSDT` differ). `BTCUSD`, `BTC/USD`, `btc-usd` and
/// `COINBASE:BTCUSD` are the same; `BRK.B` and `BRK/B` too. Unknown symbols
/// match only when equal after trimming and upper-casing; empty matches
/// nothing.
pub fn same_instrument(a: &str, b: &str) -> bool {
    let (pa, pb) = (parse_symbol(a), parse_symbol(b));
    if pa.class != pb.class || pa.base.is_empty() || pa.base != pb.base {
        return false;
    }
    match pa.class {
        AssetClass::Crypto => pa.quote_or_usd() == pb.quote_or_usd(),
        AssetClass::Forex => pa.quote == pb.quote,
        AssetClass::Equity | AssetClass::Unknown => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use AssetClass::*;

    #[test]
    fn classifies_the_table() {
        let cases: &[(&str, AssetClass, &str, Option<&str>)] = &[
            ("BTCUSD", Crypto, "BTC", Some("USD")),
            ("BTC/USD", Crypto, "BTC", Some("USD")),
            ("BTC-USD", Crypto, "BTC", Some("USD")),
            ("BTC_USDT", Crypto, "BTC", Some("USDT")),
            ("BTCUSDT", Crypto, "BTC", Some("USDT")),
            ("ETHUSDC", Crypto, "ETH", Some("USDC")),
            ("btcusd", Crypto, "BTC", Some("USD")),
            ("  ethusd ", Crypto, "ETH", Some("USD")),
            ("BINANCE:BTCUSDT", Crypto, "BTC", Some("USDT")),
            ("BTC.P", Crypto, "BTC", None),
            ("BTCUSDT.P", Crypto, "BTC", Some("USDT")),
            ("BYBIT:ETHUSDT.P", Crypto, "ETH", Some("USDT")),
            ("BTC-PERP", Crypto, "BTC", None),
            ("ETHBTC", Crypto, "ETH", Some("BTC")),
            ("BTCEUR", Crypto, "BTC", Some("EUR")),
            ("XBTUSD", Crypto, "BTC", Some("USD")),
            ("1INCHUSD", Crypto, "1INCH", Some("USD")),
            ("SHIBUSD", Crypto, "SHIB", Some("USD")),
            ("PEPEUSDT", Crypto, "PEPE", Some("USDT")),
            ("MATICUSD", Crypto, "MATIC", Some("USD")),
            ("POLUSD", Crypto, "POL", Some("USD")),
            ("USDTUSD", Crypto, "USDT", Some("USD")),
            ("COINBASE:FOOUSD", Crypto, "FOO", Some("USD")),
            ("KRAKEN_DL:SOLUSD", Crypto, "SOL", Some("USD")),
            ("EURUSD", Forex, "EUR", Some("USD")),
            ("EUR/USD", Forex, "EUR", Some("USD")),
            ("GBPJPY", Forex, "GBP", Some("JPY")),
            ("usdjpy", Forex, "USD", Some("JPY")),
            ("OANDA:EURUSD", Forex, "EUR", Some("USD")),
            ("SPY", Equity, "SPY", None),
            ("AAPL", Equity, "AAPL", None),
            ("TSLA", Equity, "TSLA", None),
            ("QQQ", Equity, "QQQ", None),
            ("X", Equity, "X", None),
            ("aapl", Equity, "AAPL", None),
            ("NASDAQ:AAPL", Equity, "AAPL", None),
            ("BRK.B", Equity, "BRK.B", None),
            ("BRK/B", Equity, "BRK.B", None),
            ("BRK-B", Equity, "BRK.B", None),
            // Bare coin tickers are US stock / ETF tickers.
            ("BTC", Equity, "BTC", None),
            ("LINK", Equity, "LINK", None),
            ("ES1!", Unknown, "ES1!", None),
            ("CME_MINI:ES1!", Unknown, "ES1!", None),
            ("MNQU2025", Unknown, "MNQU2025", None),
            ("OANDA:XAUUSD", Unknown, "XAUUSD", None),
            ("XAUUSD", Unknown, "XAUUSD", None),
            ("FOOBARUSD", Unknown, "FOOBARUSD", None),
            ("TOOLONG", Unknown, "TOOLONG", None),
            ("SQ 240510C68", Unknown, "SQ 240510C68", None),
            ("", Unknown, "", None),
            ("   ", Unknown, "", None),
            ("NASDAQ:", Unknown, "", None),
            ("$$$", Unknown, "$$$", None),
            ("BTC/USD/EUR", Unknown, "BTC/USD/EUR", None),
            ("FOO/USD", Crypto, "FOO", Some("USD")),
            ("EUR/USDT", Crypto, "EUR", Some("USDT")),
            ("BINANCE:EURUSDT", Crypto, "EUR", Some("USDT")),
            ("KRAKEN:EURUSD", Forex, "EUR", Some("USD")),
            ("BINANCE:BTC", Crypto, "BTC", None),
            ("BYBIT:FOO.P", Crypto, "FOO", None),
            ("COINBASE:FOO", Unknown, "FOO", None),
        ];
        assert!(cases.len() >= 26);
        for (input, class, base, quote) in cases {
            let p = parse_symbol(input);
            assert_eq!(p.class, *class, "class of {input:?}");
            assert_eq!(p.base, *base, "base of {input:?}");
            assert_eq!(p.quote.as_deref(), *quote, "quote of {input:?}");
            assert_eq!(get_asset_class(input), *class);
            // The canonical form (the paper broker's symbol) parses back to
            // the same thing.
            if p.class != Unknown {
                let again = parse_symbol(&p.canonical());
                assert_eq!(again.canonical(), p.canonical(), "{input:?}");
                assert_eq!(again.class, p.class, "{input:?}");
            }
        }
    }

    #[test]
    fn renders_alpaca_order_symbols() {
        for (input, want) in [
            ("BTCUSD", "BTC/USD"),
            ("btc-usd", "BTC/USD"),
            ("BINANCE:BTCUSDT.P", "BTC/USDT"),
            ("BTC.P", "BTC/USD"),
            ("ETHBTC", "ETH/BTC"),
            ("aapl", "AAPL"),
            ("BRK/B", "BRK.B"),
            ("NASDAQ:AAPL", "AAPL"),
        ] {
            assert_eq!(alpaca_order_symbol(input).as_deref(), Ok(want), "{input}");
        }
        assert_eq!(alpaca_order_symbol("  "), Err(SymbolError::Empty));
        assert_eq!(
            alpaca_order_symbol("EURUSD"),
            Err(SymbolError::Unsupported {
                symbol: "EURUSD".into(),
                class: Forex
            })
        );
        assert!(matches!(
            alpaca_order_symbol("ES1!"),
            Err(SymbolError::Unrecognized(_))
        ));
    }

    #[test]
    fn renders_alpaca_position_symbols() {
        for (input, want) in [
            ("BTC/USD", "BTCUSD"),
            ("BTCUSD", "BTCUSD"),
            ("eth-usdt", "ETHUSDT"),
            ("BTC.P", "BTCUSD"),
            ("BRK-B", "BRK.B"),
            ("SPY", "SPY"),
        ] {
            assert_eq!(
                alpaca_position_symbol(input).as_deref(),
                Ok(want),
                "{input}"
            );
        }
        assert!(alpaca_position_symbol("GBPJPY").is_err());
    }

    #[test]
    fn feed_symbols_are_the_base_asset() {
        for input in [
            "BTCUSD",
            "BTC/USD",
            "BTC-USD",
            "BTCUSDT",
            "BINANCE:BTCUSDT.P",
            "XBTUSD",
        ] {
            assert_eq!(feed_symbol(input).as_deref(), Some("BTC"), "{input}");
        }
        assert_eq!(feed_symbol("1INCHUSD").as_deref(), Some("1INCH"));
        assert_eq!(feed_symbol("AAPL"), None);
        assert_eq!(feed_symbol("EURUSD"), None);
        assert_eq!(feed_symbol(""), None);
    }

    #[test]
    fn same_instrument_ignores_spelling() {
        assert!(same_instrument("BTCUSD", "BTC/USD"));
        assert!(same_instrument("btc-usd", "COINBASE:BTCUSD"));
        assert!(same_instrument("BTC.P", "BTCUSD"));
        assert!(same_instrument("BRK.B", "brk/b"));
        assert!(same_instrument("NASDAQ:AAPL", "AAPL"));
        assert!(same_instrument("EUR/USD", "EURUSD"));
        assert!(same_instrument("ES1!", "es1!"));
        assert!(!same_instrument("BTCUSD", "BTCUSDT"));
        assert!(!same_instrument("BTCUSD", "ETHUSD"));
        assert!(!same_instrument("BTC", "BTCUSD"));
        assert!(!same_instrument("EURUSD", "USDEUR"));
        assert!(!same_instrument("", ""));
    }

    #[test]
    fn canonical_forms() {
        assert_eq!(parse_symbol("BTCUSDT").canonical(), "BTC/USDT");
        assert_eq!(parse_symbol("BTC.P").canonical(), "BTC/USD");
        assert_eq!(parse_symbol("OANDA:GBPJPY").canonical(), "GBP/JPY");
        assert_eq!(parse_symbol("brk-b").canonical(), "BRK.B");
        assert_eq!(parse_symbol("es1!").canonical(), "ES1!");
    }
}
