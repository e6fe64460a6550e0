//! A back office embedding the ledger: open, submit, query. `cargo run -p ledger-store --example back_office`
use ledger_core::{AccountClass::*, AccountId, Arrival, Binding, CommandBody::*, CustomerId, Policy, Timestamp};
use ledger_store::{Ledger, LedgerOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("back-office-{}", std::process::id()));
    let ledger = Ledger::create(&dir, LedgerOptions::default())?; // Clone it into every thread.
    let policy = Box::new(Policy::preset("pboc-2018")?);
    ledger.submit(ledger.command(ChangePolicy { effective_from: Timestamp::UNIX_EPOCH, policy }))?;
    let (vault, wallet, customer) = (AccountId(6222_0001), AccountId(6222_0002), CustomerId(42));
    let binding = Some(Binding::Account(vault));
    let (verified_in_person, with_card) = (true, false);
    ledger.submit_batch(vec![
        ledger.command(OpenAccount {
            account: vault,
            customer,
            class: I,
            binding: None,
            verified_in_person,
            with_card,
        }),
        ledger.command(OpenAccount { account: wallet, customer, class: II, binding, verified_in_person, with_card }),
        ledger.command(CashDeposit { account: vault, amount: "50000".parse()? }),
        ledger.command(InternalTransfer { from: vault, to: wallet, amount: "20000".parse()? }),
    ])?;
    let pay = ledger.submit(ledger.command(Payment {
        from: wallet,
        merchant: "Metro".into(),
        amount: "10000.01".parse()?,
    }))?;
    println!("payment: {}", pay.rejection().map_or("accepted".into(), |reason| reason.to_string()));
    println!("wallet: {:?} CNY, limits today: {:?}", ledger.balance(wallet)?, ledger.usage(wallet)?);
    // A next-day transfer: accepted now, its funds and limit use reserved until 00:00 Beijing.
    let later = ledger.submit(ledger.command(DelayedTransfer {
        from: wallet,
        counterparty: "CCB-6217-0000-2222".into(),
        amount: "800".parse()?,
        arrival: Arrival::NextDay,
    }))?;
    let pending = later.pending().map(|reservation| reservation.stage);
    println!("transfer: {pending:?}; available {:?} CNY", ledger.available(wallet)?);
    println!("head for auditors: {}", ledger.head()?.to_text());
    ledger.close()?;
    Ok(std::fs::remove_dir_all(dir)?)
}
