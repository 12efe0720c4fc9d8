"""The quality plot's right axis: how far the samples are from the real data. The domain classifier's Fréchet
distance with its real floor (dashed), or KID x1000 in a seeded random network's features with its spread over
subsets as a band (its floor is 0: the estimate is unbiased). A ViewBox of its own on the plot's x axis
(pyqtgraph's MultiplePlotAxes pattern); its items are made once and updated in place."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt

from cgan_core.output.quality import QualityReport

FRECHET_COLOR = "#f1a14e"


class DistanceAxis:
    def __init__(self, item: pg.PlotItem, grouped) -> None:
        """`item`: the quality plot; `grouped(values)`: the plot's averaging of many reports into its columns."""
        self.item, self.grouped = item, grouped
        self.box = pg.ViewBox()
        item.showAxis("right")
        item.scene().addItem(self.box)
        self.axis = item.getAxis("right")
        self.axis.linkToView(self.box)
        self.axis.setLabel("Frechet distance", color=FRECHET_COLOR)
        self.label = "Frechet distance"
        self.box.setXLink(item)
        self.curve = pg.PlotDataItem(pen=pg.mkPen(FRECHET_COLOR, width=2), connect="finite")
        # PlotCurveItems with no pen: a PlotDataItem without a pen would not hand its data to its curve.
        self.spread_low, self.spread_high = (pg.PlotCurveItem(pen=pg.mkPen(None)) for _ in range(2))
        self.spread_band = pg.FillBetweenItem(self.spread_low, self.spread_high, brush=pg.mkBrush(241, 161, 78, 60))
        self.floor_line = pg.InfiniteLine(angle=0, pen=pg.mkPen(FRECHET_COLOR, width=1, style=Qt.DashLine),
                                          label="real floor", labelOpts={"color": FRECHET_COLOR, "position": 0.9})
        self.floor_line.hide()
        for part in (self.spread_band, self.curve, self.floor_line):
            self.box.addItem(part)
        item.getViewBox().sigResized.connect(self._sync)

    def _sync(self) -> None:
        self.box.setGeometry(self.item.getViewBox().sceneBoundingRect())

    def show_values(self, shown: bool) -> None:
        """The axis's numbers only when there is something to read them against."""
        if shown != self.axis.style["showValues"]:
            self.axis.setStyle(showValues=shown)

    def _set_label(self, text: str) -> None:
        if text != self.label:  # set again, the axis would relay out at every redraw
            self.label = text
            self.axis.setLabel(text, color=FRECHET_COLOR)

    def draw_frechet(self, shown: np.ndarray, reports: list[QualityReport]) -> str:
        """The classifier's distance and floor; the readout's part for it."""
        self.spread_band.hide()
        self._set_label("Frechet distance")
        self.curve.setData(shown, self.grouped(np.array([r.frechet for r in reports])))
        if not reports:
            self.floor_line.hide()
            self.box.setYRange(0, 1, padding=0)  # auto-ranged on nothing, the axis would read -400 to 400
            return ""
        last = reports[-1]
        self.floor_line.setValue(last.floor)
        self.floor_line.show()
        self.box.setYRange(0, max(max(r.frechet for r in reports), last.floor) * 1.05, padding=0)
        return f"<span style='color:{FRECHET_COLOR}'>FD {last.frechet:.1f}</span>"

    def draw_kid(self, shown: np.ndarray, reports: list[QualityReport]) -> str:
        """KID x 1000 with its spread as a band; the readout's part (with the mean per-class distance)."""
        self.floor_line.hide()
        self._set_label("KID x1000, random features")
        kid = self.grouped(np.array([1000 * r.kid for r in reports]))
        spread = self.grouped(np.array([1000 * r.kid_spread for r in reports]))
        self.curve.setData(shown, kid)
        measured = np.isfinite(kid) & np.isfinite(spread)
        self.spread_low.setData(shown[measured], (kid - spread)[measured])
        self.spread_high.setData(shown[measured], (kid + spread)[measured])
        self.spread_band.setVisible(bool(measured.any()))
        if not measured.any():
            self.box.setYRange(0, 1, padding=0)
            return "" if not reports else "no independent figures in these measurements"
        self.box.setYRange(0, float(np.max((kid + spread)[measured])) * 1.05 or 1.0, padding=0)
        last = reports[-1]
        return (f"<span style='color:{FRECHET_COLOR}'>KID {1000 * last.kid:.2f}±{1000 * last.kid_spread:.2f} ×10⁻³, "
                f"class FD {last.intra_mean:.1f} (real {last.intra_floor:.1f})</span>")
