"""What every chart of truce shares — the web pages' and the exported brief's: team colours, type,
and Plotly figures rendered as <div>s without plotly.js and without the mode bar, so a chart
never makes a request of its own (the page supplies plotly.js from our server, or inlines it)."""

from __future__ import annotations

SALES, MARKETING, BOTH = "#c05621", "#2b6cb0", "#553c9a"
FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif'
CONFIG = {"displaylogo": False, "responsive": True, "displayModeBar": False}


def figure(height: int = 300, title: str | None = None):
    """An empty figure in our style: white, our type, legend above, grouped bars."""
    import plotly.graph_objects as go

    fig = go.Figure()
    fig.update_layout(
        template="plotly_white",
        height=height,
        title={"text": title, "x": 0, "font": {"size": 14}} if title else None,
        margin={"l": 8, "r": 8, "t": 40 if title else 32, "b": 8},
        font={"family": FONT, "size": 12, "color": "#1d2430"},
        legend={"orientation": "h", "x": 0, "y": 1.02, "yanchor": "bottom"},
        barmode="group",
        bargap=0.25,
    )
    fig.update_xaxes(automargin=True)
    fig.update_yaxes(automargin=True)
    return fig


def html(fig) -> str:
    return fig.to_html(
        full_html=False,
        include_plotlyjs=False,
        config=CONFIG,
        default_width="100%",
        default_height=f"{fig.layout.height}px",
    )
