using System.Globalization;

namespace Luffy.Trainer.Reporting;

/// <summary>A line chart (one or more panels side by side) drawn on a <see cref="PngCanvas"/>.</summary>
public static class LinePlot
{
    public sealed record Series(string Name, (byte R, byte G, byte B) Color, IReadOnlyList<(double X, double Y)> Points);

    public sealed record Panel(string Title, string XLabel, string YLabel, IReadOnlyList<Series> Series, double YMin = 0, double YMax = 1);

    public static readonly (byte, byte, byte)[] Palette = [(31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189), (255, 127, 14)];

    public static void Save(string path, IReadOnlyList<Panel> panels)
    {
        const int panelWidth = 560, height = 420, left = 70, right = 20, top = 50, bottom = 60;
        var canvas = new PngCanvas(panelWidth * panels.Count, height);
        (byte, byte, byte) black = (0, 0, 0), grid = (225, 225, 225);
        for (int p = 0; p < panels.Count; p++)
        {
            Panel panel = panels[p];
            int x0 = p * panelWidth + left, x1 = (p + 1) * panelWidth - right, y0 = height - bottom, y1 = top;
            double xMax = Math.Max(1, panel.Series.SelectMany(s => s.Points).Select(pt => pt.X).DefaultIfEmpty(1).Max());
            double Sx(double x) => x0 + (x1 - x0) * x / xMax;
            double Sy(double y) => y0 - (y0 - y1) * (Math.Clamp(y, panel.YMin, panel.YMax) - panel.YMin) / (panel.YMax - panel.YMin);
            for (int k = 0; k <= 5; k++)
            {
                double y = panel.YMin + (panel.YMax - panel.YMin) * k / 5;
                canvas.Line(x0, Sy(y), x1, Sy(y), grid);
                string label = (100 * y).ToString("F0", CultureInfo.InvariantCulture) + "%";
                canvas.Text(x0 - PngCanvas.TextWidth(label) - 6, (int)Sy(y) - 7, label, black);
                double x = xMax * k / 5;
                string xl = x.ToString("F0", CultureInfo.InvariantCulture);
                canvas.Text((int)Sx(x) - PngCanvas.TextWidth(xl) / 2, y0 + 8, xl, black);
            }
            canvas.Line(x0, y0, x1, y0, black, 2);
            canvas.Line(x0, y0, x0, y1, black, 2);
            canvas.Text(x0, 14, panel.Title, black);
            canvas.Text((x0 + x1) / 2 - PngCanvas.TextWidth(panel.XLabel) / 2, height - 26, panel.XLabel, black);
            int legendY = top + 6;
            foreach (Series s in panel.Series)
            {
                for (int i = 1; i < s.Points.Count; i++)
                {
                    canvas.Line(Sx(s.Points[i - 1].X), Sy(s.Points[i - 1].Y), Sx(s.Points[i].X), Sy(s.Points[i].Y), s.Color, 3);
                }
                canvas.FillRectangle(x0 + 12, legendY + 4, 18, 6, s.Color);
                canvas.Text(x0 + 36, legendY, s.Name, black);
                legendY += 20;
            }
        }
        canvas.Save(path);
    }
}
