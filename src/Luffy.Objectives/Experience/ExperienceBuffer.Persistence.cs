using System.Text;

namespace Luffy.Objectives.Experience;

public sealed partial class ExperienceBuffer
{
    private const string Magic = "LUFFY-EXPERIENCE";
    private const int FormatVersion = 1;

    /// <summary>
    /// Writes the buffer's whole state (phase, retired questions, buckets, trajectories in order, the eviction clock) in a
    /// versioned little-endian binary format; <see cref="Load"/> restores it exactly, so a resumed run draws what the
    /// uninterrupted one would. The options are not written: pass the same ones to <see cref="Load"/>.
    /// </summary>
    /// <param name="stream">A writable stream; left open.</param>
    public void Save(Stream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        using var writer = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true);
        writer.Write(Magic);
        writer.Write(FormatVersion);
        writer.Write(Options.SamplesPerPrompt);
        writer.Write(ReplayStarted);
        writer.Write(clock);
        writer.Write(evicted);
        writer.Write(retired.Count);
        foreach (long id in retired)
        {
            writer.Write(id);
        }
        writer.Write(entries.Count);
        foreach ((long id, Entry entry) in entries)
        {
            writer.Write(id);
            writer.Write(entry.Bucket);
            writer.Write(entry.Updated);
            writer.Write(entry.Trajectories.Count);
            foreach (ExperienceTrajectory trajectory in entry.Trajectories)
            {
                writer.Write(trajectory.Tokens.Count);
                foreach (int token in trajectory.Tokens)
                {
                    writer.Write(token);
                }
                foreach (float logProb in trajectory.BehaviourLogProbs)
                {
                    writer.Write(logProb);
                }
            }
        }
    }

    /// <summary>Reads a buffer written by <see cref="Save"/>.</summary>
    /// <param name="stream">A readable stream positioned at the buffer; left open.</param>
    /// <param name="options">The options the buffer was saved with (G must match); <see langword="null"/> uses the defaults.</param>
    /// <returns>The buffer.</returns>
    /// <exception cref="InvalidDataException">The stream is not a buffer of this format, was written with another G, is truncated, or holds an invalid value (the message says which).</exception>
    public static ExperienceBuffer Load(Stream stream, ExperienceOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        var buffer = new ExperienceBuffer(options);
        using var reader = new BinaryReader(stream, Encoding.UTF8, leaveOpen: true);
        try
        {
            string magic = reader.ReadString();
            if (magic != Magic)
            {
                throw new InvalidDataException($"not an experience buffer (header '{magic}', expected '{Magic}').");
            }
            int version = reader.ReadInt32();
            if (version != FormatVersion)
            {
                throw new InvalidDataException($"experience buffer format {version}; this library reads format {FormatVersion}.");
            }
            int g = reader.ReadInt32();
            if (g != buffer.Options.SamplesPerPrompt)
            {
                throw new InvalidDataException($"the buffer was saved with SamplesPerPrompt (G) = {g} but the options say {buffer.Options.SamplesPerPrompt}; its buckets would mean other correct counts. Load it with the options it was saved with.");
            }
            buffer.ReplayStarted = reader.ReadBoolean();
            buffer.clock = reader.ReadInt64();
            buffer.evicted = reader.ReadInt64();
            int retiredCount = Count(reader, "retired questions");
            for (int i = 0; i < retiredCount; i++)
            {
                buffer.retired.Add(reader.ReadInt64());
            }
            int entryCount = Count(reader, "questions");
            for (int i = 0; i < entryCount; i++)
            {
                long id = reader.ReadInt64();
                var entry = new Entry { Bucket = reader.ReadInt32(), Updated = reader.ReadInt64() };
                if (entry.Bucket < 1 || entry.Bucket > g - 1)
                {
                    throw new InvalidDataException($"question {id} is in bucket {entry.Bucket}, outside [1, {g - 1}].");
                }
                int trajectories = Count(reader, $"trajectories of question {id}");
                if (trajectories == 0)
                {
                    throw new InvalidDataException($"question {id} has no trajectory; the buffer keeps only questions with one.");
                }
                for (int t = 0; t < trajectories; t++)
                {
                    int length = Count(reader, "tokens");
                    var tokens = new int[length];
                    var logProbs = new float[length];
                    for (int j = 0; j < length; j++)
                    {
                        tokens[j] = reader.ReadInt32();
                    }
                    for (int j = 0; j < length; j++)
                    {
                        logProbs[j] = reader.ReadSingle();
                    }
                    entry.Trajectories.Add(new ExperienceTrajectory(tokens, logProbs));
                }
                if (!buffer.entries.TryAdd(id, entry) || buffer.retired.Contains(id))
                {
                    throw new InvalidDataException($"question {id} is stored twice, or both stored and retired.");
                }
            }
        }
        catch (EndOfStreamException e)
        {
            throw new InvalidDataException("the experience buffer is truncated.", e);
        }
        catch (ArgumentException e)
        {
            throw new InvalidDataException($"the experience buffer holds an invalid trajectory: {e.Message}", e);
        }
        return buffer;
    }

    private static int Count(BinaryReader reader, string what)
    {
        int count = reader.ReadInt32();
        return count >= 0 ? count : throw new InvalidDataException($"the count of {what} is {count}.");
    }
}
