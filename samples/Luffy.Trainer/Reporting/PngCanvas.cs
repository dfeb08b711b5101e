using System.Buffers.Binary;
using System.IO.Compression;

namespace Luffy.Trainer.Reporting;

/// <summary>A small RGB raster with lines, rectangles and a 5×7 bitmap font, saved as PNG (no dependencies).</summary>
public sealed class PngCanvas
{
    private readonly byte[] pixels;

    public PngCanvas(int width, int height)
    {
        Width = width;
        Height = height;
        pixels = new byte[width * height * 3];
        Array.Fill(pixels, (byte)255);
    }

    public int Width { get; }

    public int Height { get; }

    public void Set(int x, int y, (byte R, byte G, byte B) c)
    {
        if (x < 0 || y < 0 || x >= Width || y >= Height)
        {
            return;
        }
        int i = (y * Width + x) * 3;
        pixels[i] = c.R;
        pixels[i + 1] = c.G;
        pixels[i + 2] = c.B;
    }

    public void Line(double x0, double y0, double x1, double y1, (byte, byte, byte) c, int thickness = 1)
    {
        int steps = (int)Math.Ceiling(Math.Max(Math.Abs(x1 - x0), Math.Abs(y1 - y0))) + 1;
        for (int s = 0; s <= steps; s++)
        {
            double t = (double)s / steps;
            int x = (int)Math.Round(x0 + (x1 - x0) * t), y = (int)Math.Round(y0 + (y1 - y0) * t);
            for (int dx = -(thickness / 2); dx <= thickness / 2; dx++)
            {
                for (int dy = -(thickness / 2); dy <= thickness / 2; dy++)
                {
                    Set(x + dx, y + dy, c);
                }
            }
        }
    }

    public void FillRectangle(int x, int y, int w, int h, (byte, byte, byte) c)
    {
        for (int i = x; i < x + w; i++)
        {
            for (int j = y; j < y + h; j++)
            {
                Set(i, j, c);
            }
        }
    }

    /// <summary>Draws text (upper-cased; unknown characters are blank) with its top-left corner at (x, y).</summary>
    public void Text(int x, int y, string text, (byte, byte, byte) c, int scale = 2)
    {
        foreach (char ch in text.ToUpperInvariant())
        {
            if (Font.Glyphs.TryGetValue(ch, out string[]? rows))
            {
                for (int r = 0; r < 7; r++)
                {
                    for (int col = 0; col < 5; col++)
                    {
                        if (rows[r][col] == '#')
                        {
                            FillRectangle(x + col * scale, y + r * scale, scale, scale, c);
                        }
                    }
                }
            }
            x += 6 * scale;
        }
    }

    public static int TextWidth(string text, int scale = 2) => text.Length * 6 * scale;

    public void Save(string path)
    {
        using var file = File.Create(path);
        file.Write([137, 80, 78, 71, 13, 10, 26, 10]);
        var header = new byte[13];
        BinaryPrimitives.WriteInt32BigEndian(header, Width);
        BinaryPrimitives.WriteInt32BigEndian(header.AsSpan(4), Height);
        header[8] = 8; // bit depth
        header[9] = 2; // truecolor RGB
        Chunk(file, "IHDR", header);
        using var raw = new MemoryStream();
        using (var z = new ZLibStream(raw, CompressionLevel.Optimal, leaveOpen: true))
        {
            for (int y = 0; y < Height; y++)
            {
                z.WriteByte(0); // filter: none
                z.Write(pixels, y * Width * 3, Width * 3);
            }
        }
        Chunk(file, "IDAT", raw.ToArray());
        Chunk(file, "IEND", []);
    }

    private static void Chunk(Stream stream, string type, byte[] data)
    {
        Span<byte> length = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(length, data.Length);
        stream.Write(length);
        byte[] typeBytes = System.Text.Encoding.ASCII.GetBytes(type);
        stream.Write(typeBytes);
        stream.Write(data);
        uint crc = Crc32(typeBytes, data);
        Span<byte> crcBytes = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(crcBytes, crc);
        stream.Write(crcBytes);
    }

    private static uint Crc32(byte[] type, byte[] data)
    {
        uint crc = 0xFFFFFFFF;
        foreach (byte b in type.Concat(data))
        {
            crc ^= b;
            for (int k = 0; k < 8; k++)
            {
                crc = (crc & 1) != 0 ? 0xEDB88320 ^ (crc >> 1) : crc >> 1;
            }
        }
        return ~crc;
    }
}
