using System.Buffers.Binary;

namespace Luffy.Trainer.Tests;

/// <summary>Reads the scalars of a TensorBoard event file: TFRecord framing (length, masked CRC, data, masked CRC) around serialized <c>Tensorboard.Event</c> messages.</summary>
internal static class TensorboardEvents
{
    public static Dictionary<(string Tag, long Step), float> Read(string path)
    {
        var scalars = new Dictionary<(string, long), float>();
        byte[] bytes = File.ReadAllBytes(path);
        int at = 0;
        while (at < bytes.Length)
        {
            long length = BinaryPrimitives.ReadInt64LittleEndian(bytes.AsSpan(at));
            at += 8 + 4; // length, its CRC
            var message = Tensorboard.Event.Parser.ParseFrom(bytes, at, (int)length);
            at += (int)length + 4; // data, its CRC
            foreach (var value in message.Summary?.Value ?? [])
            {
                scalars[(value.Tag, message.Step)] = value.SimpleValue;
            }
        }
        Assert.Equal(bytes.Length, at);
        return scalars;
    }
}
