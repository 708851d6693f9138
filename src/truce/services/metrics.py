"""Integrated metrics per group, and the who-to-call directory. docs/feedback.md states each rule.

Each group is measured on what it can move. **Sellers** and **downstream marketers** share the
sales measures; a seller's deals are the won deals they own, a downstream marketer's the won
deals whose campaign they own. **Upstream marketers** get longer-horizon measures over the won
deals of the campaigns they own. A marketing user without a focus counts as downstream.

Definitions (period [start, end], UTC days, both included; either end open when None):

- A deal *closes in the period* when it is won and its close date is in the period. Won deals
  without a close date cannot be placed in time and are left out.
- A *customer* is the deal's account; a won deal without an account is its own customer.
- `closings`: the group member's deals closed in the period; `won_revenue`: their amounts.
- `new_customers`: customers whose first won deal (earliest close date, then lowest id) closed
  in the period and is the member's deal.
- `customers`: distinct customers among the closings.
- `gross_profit` = won_revenue × [brief] gross_margin; `avg_gross_profit_per_customer` =
  gross_profit ÷ customers (every customer served, not only new ones, since the revenue
  includes repeat business), None without closings.
- `sales_cost`: truce holds no pay or commission data, so the cost it can measure is the
  programme spend a person controls: the spend in the period of the campaigns they own
  (actual cost, else budget, spread evenly over the days each ran — the rule `truce roi`
  uses). `sales_cost_share` = sales_cost ÷ won_revenue; None when there is no won revenue, or
  when the person owns no campaign (no cost recorded is not a cost of zero).
- Upstream: `won_revenue` over their campaigns' deals; `revenue_from_new_segments`: of that,
  the deals in a market segment (the account's industry and size segment, both known) whose
  first won deal company-wide closed in the period; `revenue_from_new_offerings`: the deals
  of a product whose first won deal company-wide closed in the period. `products`: the
  products of their campaigns' won deals in the period. `forecast_accuracy`: for each of those
  products, how well truce's revenue forecast (truce.services.forecast) did for that
  product's deals over the calendar quarters of the 365 days up to the period's end (or the
  last deal activity): each quarter is forecast from its middle day with only what was known
  then, stage odds learned from all deals, and accuracy = 1 − WAPE = 1 − Σ|forecast −
  actual| ÷ Σactual over the quarters with revenue (None when none had any). Products have
  no owners in the store, so a product's accuracy is shared by the upstream marketers whose
  campaigns sold it.
- Joint activity, over touchpoints in the period with an account (the touch's own, else its
  contact's). A touch belongs to its user's team when that user is in marketing or sales,
  else to its kind. `accounts_touched_by_both`: accounts with touches from both teams in the
  period; `share` = that ÷ accounts touched (None without touches). `meetings_with_both_teams`:
  account-days (UTC) with a live touch — a meeting, demo or event — from each team.
  `by_month` counts the same within each month (an account touched by marketing in one month
  and sales in the next is joint over the period, but in neither month).

Money is summed as Decimal and returned as a float rounded to the cent.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

from sqlalchemy import ColumnElement, Connection, Date, Engine, and_, case, cast, func, literal, select, true, union_all

from truce.config import TruceConfig
from truce.services.economics import campaign_costs
from truce.store.models import Account, AccountPlan, Campaign, Contact, Opportunity, Touchpoint, User
from truce.store.present import present
from truce.vocabulary import TEAMS

CENT = Decimal("0.01")
ZERO = Decimal("0")
LIVE_TOUCHES = ("meeting", "demo", "event")
FORECAST_NOTE = (
    "forecast_accuracy: 1 − WAPE of the quarterly revenue forecast for each product the marketer's "
    "campaigns sold, back-tested over the year up to the period's end"
)


class MetricsError(ValueError):
    """An option the metrics cannot use; the message says what would work."""


@dataclass(frozen=True)
class Won:
    id: int
    customer: tuple
    owner_id: int | None
    campaign_id: int | None
    amount: Decimal
    closed: dt.date
    product: str | None
    market: tuple[str, str] | None


def _check_period(start, end) -> None:
    for name, day in (("start", start), ("end", end)):
        if day is not None and (not isinstance(day, dt.date) or isinstance(day, dt.datetime)):
            raise MetricsError(f"{name} must be a date, not {day!r}")
    if start and end and start > end:
        raise MetricsError(f"the period starts on {start} after it ends on {end}")


def _inside(day: dt.date, start: dt.date | None, end: dt.date | None) -> bool:
    return (start is None or day >= start) and (end is None or day <= end)


def _money(value: Decimal) -> float:
    return float(value.quantize(CENT, rounding=ROUND_HALF_EVEN))


def _won_deals(conn: Connection) -> list[Won]:
    rows = conn.execute(
        select(
            Opportunity.id,
            Opportunity.account_id,
            Opportunity.owner_id,
            Opportunity.campaign_id,
            Opportunity.amount,
            Opportunity.close_date,
            Opportunity.product,
            Account.industry,
            Account.segment,
        )
        .outerjoin(Account, Account.id == Opportunity.account_id)
        .where(Opportunity.status == "won", Opportunity.close_date.is_not(None), present(Opportunity))
        .order_by(Opportunity.close_date, Opportunity.id)
    ).all()
    return [
        Won(
            r.id,
            ("account", r.account_id) if r.account_id is not None else ("deal", r.id),
            r.owner_id,
            r.campaign_id,
            r.amount,
            r.close_date,
            r.product.strip() if r.product and r.product.strip() else None,
            (r.industry, r.segment) if r.industry and r.segment else None,
        )
        for r in rows
    ]


def _firsts(deals: list[Won], key) -> dict:
    """The first won deal (by close date, then id: the order deals come in) per key."""
    first: dict = {}
    for deal in deals:
        k = key(deal)
        if k is not None and k not in first:
            first[k] = deal
    return first


def _sales_row(user, deals: list[Won], first_ids: set[int], cost: Decimal | None, margin: Decimal) -> dict:
    revenue = sum((d.amount for d in deals), ZERO)
    customers = len({d.customer for d in deals})
    profit = revenue * margin
    return {
        "user": user.email,
        "name": user.name,
        "active": user.active,
        "new_customers": sum(1 for d in deals if d.id in first_ids),
        "closings": len(deals),
        "customers": customers,
        "won_revenue": _money(revenue),
        "gross_profit": _money(profit),
        "avg_gross_profit_per_customer": _money(profit / customers) if customers else None,
        "sales_cost": None if cost is None else _money(cost),
        "sales_cost_share": float(cost / revenue) if cost is not None and revenue else None,
    }


def group_metrics(
    engine: Engine, config: TruceConfig, *, start: dt.date | None = None, end: dt.date | None = None
) -> dict:
    """Sales measures for sellers and downstream marketers, longer-horizon ones for upstream
    marketers, and joint activity between the teams."""
    _check_period(start, end)
    margin = Decimal(str(config.brief.gross_margin))
    with engine.connect() as conn:
        users = conn.execute(select(User).order_by(User.team, User.name, User.id)).all()
        deals = _won_deals(conn)
        campaign_owner = dict(conn.execute(select(Campaign.id, Campaign.owner_id)).all())
        joint = _joint_activity(conn, start, end, engine)
    spend: dict[int, Decimal] = defaultdict(Decimal)
    for campaign in campaign_costs(engine):
        owner = campaign_owner.get(campaign.id)
        if owner is not None:
            spend[owner] += campaign.within(start, end)
    owners_of_campaigns = {o for o in campaign_owner.values() if o is not None}
    in_period = [d for d in deals if _inside(d.closed, start, end)]
    first_customer_deals = {d.id for d in _firsts(deals, lambda d: d.customer).values()}
    new_market = {k for k, d in _firsts(deals, lambda d: d.market).items() if _inside(d.closed, start, end)}
    new_product = {k for k, d in _firsts(deals, lambda d: d.product).items() if _inside(d.closed, start, end)}

    def cost(user) -> Decimal | None:
        return spend[user.id] if user.id in owners_of_campaigns else None

    def of_campaigns(user) -> list[Won]:
        return [d for d in in_period if d.campaign_id is not None and campaign_owner.get(d.campaign_id) == user.id]

    accuracy = product_forecast_accuracy(engine, config, end=end)
    sellers, downstream, upstream = [], [], []
    for user in users:
        if user.team == "sales":
            mine = [d for d in in_period if d.owner_id == user.id]
            if user.active or mine:
                sellers.append(_sales_row(user, mine, first_customer_deals, cost(user), margin))
        elif user.team == "marketing" and user.marketing_focus == "upstream":
            mine = of_campaigns(user)
            if user.active or mine:
                upstream.append(_upstream_row(user, mine, new_market, new_product, accuracy))
        elif user.team == "marketing":
            mine = of_campaigns(user)
            if user.active or mine:
                downstream.append(_sales_row(user, mine, first_customer_deals, cost(user), margin))
    return {
        "period": {"from": start, "to": end},
        "currency": config.company.currency,
        "gross_margin": float(margin),
        "sellers": sellers,
        "downstream_marketers": downstream,
        "upstream_marketers": upstream,
        "new_segments": _news(in_period, new_market, lambda d: d.market, "segment"),
        "new_offerings": _news(in_period, new_product, lambda d: d.product, "product"),
        "joint_activity": joint,
        "notes": [FORECAST_NOTE],
    }


def _upstream_row(user, deals: list[Won], new_market: set, new_product: set, accuracy: dict) -> dict:
    products = sorted({d.product for d in deals if d.product})
    return {
        "user": user.email,
        "name": user.name,
        "active": user.active,
        "closings": len(deals),
        "won_revenue": _money(sum((d.amount for d in deals), ZERO)),
        "products": products,
        "revenue_from_new_segments": _money(sum((d.amount for d in deals if d.market in new_market), ZERO)),
        "revenue_from_new_offerings": _money(sum((d.amount for d in deals if d.product in new_product), ZERO)),
        "forecast_accuracy": {product: accuracy.get(product) for product in products},
    }


def product_forecast_accuracy(engine: Engine, config: TruceConfig, *, end: dt.date | None = None) -> dict:
    """product → 1 − WAPE of the quarterly forecast of its deals (rules in the module docstring)."""
    found = {}
    for product, quarters in product_forecast_backtest(engine, config, end=end).items():
        actual = sum((q["actual"] for q in quarters), Decimal("0"))
        missed = sum((abs(q["forecast"] - q["actual"]) for q in quarters), Decimal("0"))
        found[product] = round(float(1 - missed / actual), 4) if actual > 0 else None
    return found


def product_forecast_backtest(engine: Engine, config: TruceConfig, *, end: dt.date | None = None) -> dict:
    """product → [{"quarter", "as_of", "forecast", "actual"}] over the year up to `end` (Decimal money)."""
    from truce.domain import forecast as f
    from truce.services import forecast as service

    deals = service.load_deals(engine)
    last = service.data_end(deals)
    if last is None:
        return {}
    last = min(end, last) if end else last
    with engine.connect() as conn:
        product_of = dict(conn.execute(select(Opportunity.id, Opportunity.product)).all())
    closing = service.closing_stages(config, deals)
    quarters = [p for p in f.months_and_quarters(last - dt.timedelta(days=364), last) if p.days > 31]
    by_product: dict[str, list] = defaultdict(list)
    for deal in deals:
        product = product_of.get(deal.id)
        if product:
            by_product[product].append(deal)
    if not by_product:
        return {}
    # Odds from every deal: one product's history alone is too thin to learn from. So they are
    # the same for every product, and learned once per quarter.
    as_of = {q: q.start + dt.timedelta(days=q.days // 2 - 1) for q in quarters}
    odds = {q: f.learn_stage_odds(deals, as_of[q], closing, max((q.end - as_of[q]).days, 1)) for q in quarters}
    found = {}
    for product, mine in sorted(by_product.items()):
        rows = []
        for quarter in quarters:
            forecast = f.forecast_revenue(mine, quarter, as_of[quarter], closing, odds=odds[quarter]).forecast
            rows.append(
                {
                    "quarter": quarter.label,
                    "as_of": as_of[quarter],
                    "forecast": Decimal(str(forecast)),
                    "actual": f.won_between(mine, quarter.start, quarter.end),
                }
            )
        found[product] = rows
    return found


def _news(deals: list[Won], new: set, key, label: str) -> list[dict]:
    """Every segment or product first won in the period, with all its revenue in the period."""
    revenue: dict = defaultdict(Decimal)
    for deal in deals:
        if key(deal) in new:
            revenue[key(deal)] += deal.amount
    name = (lambda k: " / ".join(k)) if label == "segment" else str
    return [{label: name(k), "won_revenue": _money(revenue[k])} for k in sorted(new, key=name)]


# ---- joint activity --------------------------------------------------------------------------------


def _utc_day(conn: Connection, column):
    if conn.dialect.name == "postgresql":
        return cast(func.timezone("UTC", column), Date)
    return func.date(column)  # SQLite holds UTC text, 'YYYY-MM-DD HH:MM:SS'


def _month_of(conn: Connection, day):
    """'YYYY-MM' of a day from `_utc_day`."""
    if conn.dialect.name == "postgresql":
        return func.to_char(day, "YYYY-MM")
    return func.substr(day, 1, 7)


def _both_teams(rows):
    """1 for a group with a marketing and a sales row among `rows`, else 0."""
    return func.max(case((rows.c.touch_team == "marketing", 1), else_=0)) * func.max(
        case((rows.c.touch_team == "sales", 1), else_=0)
    )


def _joint_activity(conn: Connection, start: dt.date | None, end: dt.date | None, engine: Engine) -> dict:
    on_copy = _joint_counts_on_copy(engine, start, end)
    counted = on_copy if on_copy is not None else conn.execute(_joint_counts(conn, start, end)).all()
    touched, joint, meetings_in = 0, 0, {}
    months_found: dict[str, dict] = {}
    for of, month, groups, both in counted:
        both = int(both or 0)
        if of == "all":
            touched, joint = groups, both
        elif of == "month":
            months_found[month] = {"accounts_touched": groups, "accounts_touched_by_both": both}
        else:
            meetings_in[month] = both
    return {
        "accounts_touched": touched,
        "accounts_touched_by_both": joint,
        "share": joint / touched if touched else None,
        "meetings_with_both_teams": sum(meetings_in.values()),
        "by_month": [
            {
                "month": month,
                "accounts_touched": m["accounts_touched"],
                "accounts_touched_by_both": m["accounts_touched_by_both"],
                "share": m["accounts_touched_by_both"] / m["accounts_touched"],
                "meetings_with_both_teams": meetings_in.get(month, 0),
            }
            for month, m in sorted(months_found.items())
        ],
    }


def _joint_counts(conn: Connection, start: dt.date | None, end: dt.date | None):
    account = func.coalesce(Touchpoint.account_id, Contact.account_id)
    team = case((User.team.in_(("marketing", "sales")), User.team), else_=Touchpoint.kind)
    day = _utc_day(conn, Touchpoint.occurred_at)
    live = func.max(case((Touchpoint.touch_type.in_(LIVE_TOUCHES), 1), else_=0))
    when: list[ColumnElement[bool]] = [true()]
    if start:
        when.append(Touchpoint.occurred_at >= dt.datetime.combine(start, dt.time(), dt.UTC))
    if end:
        when.append(Touchpoint.occurred_at < dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), dt.UTC))
    # Which team touched which account on which day: the store counts, from here on, so that
    # Python only sees a row per month (there are about as many account-team-days as touches).
    days = (
        select(account.label("touch_account"), team.label("touch_team"), day.label("touch_day"), live.label("live"))
        .select_from(Touchpoint)
        .outerjoin(Contact, Contact.id == Touchpoint.contact_id)
        .outerjoin(User, User.id == Touchpoint.user_id)
        .where(and_(*when), account.is_not(None))
        # By label: PostgreSQL would not see two renderings of one expression with bound values as equal.
        .group_by("touch_account", "touch_team", "touch_day")
        .cte("account_team_days")
    )
    accounts = select(_both_teams(days).label("joint")).group_by(days.c.touch_account).subquery()
    months = (
        select(_month_of(conn, days.c.touch_day).label("month"), _both_teams(days).label("joint"))
        .group_by("month", days.c.touch_account)
        .subquery()
    )
    meetings = (
        select(_month_of(conn, days.c.touch_day).label("month"), _both_teams(days).label("joint"))
        .where(days.c.live == 1)
        .group_by(days.c.touch_day, days.c.touch_account)
        .subquery()
    )
    return union_all(
        select(literal("all").label("of"), literal("").label("month"), func.count(), func.sum(accounts.c.joint)),
        select(literal("month"), months.c.month, func.count(), func.sum(months.c.joint)).group_by(months.c.month),
        select(literal("meetings"), meetings.c.month, func.count(), func.sum(meetings.c.joint)).group_by(
            meetings.c.month
        ),
    )


def _joint_counts_on_copy(engine: Engine, start: dt.date | None, end: dt.date | None) -> list[tuple] | None:
    """_joint_counts on the analytical copy (3.7 s on SQLite at 100,000 contacts, a tenth of a
    second on DuckDB); None when there is no copy."""
    from truce.analytics.copy import CopyUnavailable, open_copy

    try:
        con = open_copy(engine)
    except CopyUnavailable:
        return None
    since = None if start is None else dt.datetime.combine(start, dt.time(), dt.UTC)
    until = None if end is None else dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), dt.UTC)
    try:
        return con.execute(JOINT_ON_COPY, [list(LIVE_TOUCHES), since, until]).fetchall()
    finally:
        con.close()


# _joint_counts in DuckDB's words: the copy's session runs in UTC, so a timestamp's date is its UTC day.
JOINT_ON_COPY = """
WITH account_team_days AS (
    SELECT coalesce(t.account_id, c.account_id) AS touch_account,
           CASE WHEN u.team IN ('marketing', 'sales') THEN u.team ELSE t.kind END AS touch_team,
           CAST(t.occurred_at AS DATE) AS touch_day,
           max(CASE WHEN list_contains($1, t.touch_type) THEN 1 ELSE 0 END) AS live
    FROM touchpoints t
    LEFT JOIN contacts c ON c.id = t.contact_id
    LEFT JOIN users u ON u.id = t.user_id
    WHERE ($2 IS NULL OR t.occurred_at >= $2) AND ($3 IS NULL OR t.occurred_at < $3)
      AND coalesce(t.account_id, c.account_id) IS NOT NULL
    GROUP BY ALL
), accounts AS (
    SELECT max(CASE WHEN touch_team = 'marketing' THEN 1 ELSE 0 END)
           * max(CASE WHEN touch_team = 'sales' THEN 1 ELSE 0 END) AS joint
    FROM account_team_days GROUP BY touch_account
), months AS (
    SELECT strftime(touch_day, '%Y-%m') AS month,
           max(CASE WHEN touch_team = 'marketing' THEN 1 ELSE 0 END)
           * max(CASE WHEN touch_team = 'sales' THEN 1 ELSE 0 END) AS joint
    FROM account_team_days GROUP BY month, touch_account
), meetings AS (
    SELECT strftime(touch_day, '%Y-%m') AS month,
           max(CASE WHEN touch_team = 'marketing' THEN 1 ELSE 0 END)
           * max(CASE WHEN touch_team = 'sales' THEN 1 ELSE 0 END) AS joint
    FROM account_team_days WHERE live = 1 GROUP BY touch_day, touch_account
)
SELECT 'all', '', count(*), sum(joint) FROM accounts
UNION ALL SELECT 'month', month, count(*), sum(joint) FROM months GROUP BY month
UNION ALL SELECT 'meetings', month, count(*), sum(joint) FROM meetings GROUP BY month
"""


# ---- directory -------------------------------------------------------------------------------------


def directory(engine: Engine, *, team: str | None = None) -> list[dict]:
    """Who to call: each user's team, role, territory, and the accounts and campaigns they own."""
    if team is not None and team not in TEAMS:
        raise MetricsError(f"unknown team {team!r}; choose one of: {', '.join(TEAMS)}")
    with engine.connect() as conn:
        users = conn.execute(
            select(User).where(User.team == team if team else true()).order_by(User.team, User.name, User.id)
        ).all()
        accounts = conn.execute(
            select(Account.id, Account.name, Account.domain, Account.is_key_account, Account.owner_id)
            .where(Account.owner_id.is_not(None), present(Account))
            .order_by(Account.name, Account.id)
        ).all()
        campaigns = conn.execute(
            select(Campaign.id, Campaign.name, Campaign.channel, Campaign.starts_on, Campaign.owner_id)
            .where(Campaign.owner_id.is_not(None))
            .order_by(Campaign.starts_on.desc(), Campaign.id.desc())
        ).all()
        plans = conn.execute(
            select(Account.id, Account.name, Account.domain, AccountPlan.liaison_id, AccountPlan.owner_id)
            .join(Account, Account.id == AccountPlan.account_id)
            .where(present(Account))
            .order_by(Account.name, Account.id)
        ).all()
    owned, run, liaison, planned = (defaultdict(list) for _ in range(4))
    for a in accounts:
        owned[a.owner_id].append(
            {"id": a.id, "name": a.name, "domain": a.domain, "key_account": bool(a.is_key_account)}
        )
    for c in campaigns:
        run[c.owner_id].append({"id": c.id, "name": c.name, "channel": c.channel, "starts_on": c.starts_on})
    for p in plans:
        entry = {"id": p.id, "name": p.name, "domain": p.domain}
        if p.liaison_id is not None:
            liaison[p.liaison_id].append(entry)
        if p.owner_id is not None:
            planned[p.owner_id].append(entry)
    return [
        {
            "user": u.email,
            "name": u.name,
            "team": u.team,
            "role": "leader" if u.is_leader else "member",
            "marketing_focus": u.marketing_focus,
            "region": u.region,
            "segment": u.segment,
            "active": u.active,
            "accounts_owned": owned[u.id],
            "campaigns_owned": run[u.id],
            "key_accounts_as_liaison": liaison[u.id],
            "key_accounts_as_plan_owner": planned[u.id],
        }
        for u in users
    ]
