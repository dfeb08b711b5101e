using ScottPlot;

namespace Luffy.Trainer.Reporting;

/// <summary>Line charts with seed bands on ScottPlot (headless: SkiaSharp's self-contained native assets), one PNG with panels side by side.</summary>
public static class Charts
{
    /// <summary>One method's curve: the mean over seeds and the band between the lowest and the highest seed, per x.</summary>
    public sealed record Band(string Name, IReadOnlyList<double> X, IReadOnlyList<double> Mean, IReadOnlyList<double> Low, IReadOnlyList<double> High);

    /// <summary>One panel of a chart.</summary>
    public sealed record Panel(string Title, string XLabel, string YLabel, IReadOnlyList<Band> Bands, bool Percent = true);

    private static readonly Color[] Colors = [Color.FromHex("#1f77b4"), Color.FromHex("#d62728"), Color.FromHex("#2ca02c"), Color.FromHex("#9467bd"), Color.FromHex("#ff7f0e"), Color.FromHex("#8c564b"), Color.FromHex("#17becf")];

    /// <summary>The band of several seeds' curves sampled at the same x values (a seed missing an x is left out there).</summary>
    public static Band Of(string name, IEnumerable<IReadOnlyList<(double X, double Y)>> seeds)
    {
        var points = seeds.SelectMany(s => s).Where(p => double.IsFinite(p.Y)).GroupBy(p => p.X).OrderBy(g => g.Key).ToArray();
        return new Band(name, [.. points.Select(g => g.Key)], [.. points.Select(g => g.Average(p => p.Y))], [.. points.Select(g => g.Min(p => p.Y))], [.. points.Select(g => g.Max(p => p.Y))]);
    }

    /// <summary>Saves the panels side by side as one PNG (560 × 420 pixels a panel).</summary>
    public static void Save(string path, IReadOnlyList<Panel> panels)
    {
        const int width = 560, height = 420;
        var multiplot = new Multiplot();
        multiplot.AddPlots(panels.Count);
        multiplot.Layout = new ScottPlot.MultiplotLayouts.Columns();
        for (int p = 0; p < panels.Count; p++)
        {
            Plot plot = multiplot.GetPlot(p);
            Panel panel = panels[p];
            for (int i = 0; i < panel.Bands.Count; i++)
            {
                Band band = panel.Bands[i];
                if (band.X.Count == 0)
                {
                    continue;
                }
                Color color = Colors[i % Colors.Length];
                double scale = panel.Percent ? 100 : 1;
                double[] x = [.. band.X];
                var fill = plot.Add.FillY(x, [.. band.Low.Select(v => v * scale)], [.. band.High.Select(v => v * scale)]);
                fill.FillColor = color.WithAlpha(0.18);
                fill.LineColor = Colors[i % Colors.Length].WithAlpha(0);
                var line = plot.Add.Scatter(x, [.. band.Mean.Select(v => v * scale)]);
                line.Color = color;
                line.LineWidth = 2;
                line.MarkerSize = 0;
                line.LegendText = band.Name;
            }
            plot.Title(panel.Title);
            plot.XLabel(panel.XLabel);
            plot.YLabel(panel.Percent ? panel.YLabel + " (%)" : panel.YLabel);
            plot.ShowLegend(Alignment.UpperLeft);
        }
        multiplot.SavePng(path, width * panels.Count, height);
    }
}
