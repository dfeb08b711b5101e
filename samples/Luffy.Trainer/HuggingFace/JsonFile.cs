using System.Text.Json;
using System.Text.Json.Nodes;

namespace Luffy.Trainer.HuggingFace;

/// <summary>Reads the JSON files of a model folder with errors that name the file.</summary>
internal static class JsonFile
{
    /// <summary>The JSON object in <paramref name="path"/>; <paramref name="missingHint"/> says what the file is for when it is missing.</summary>
    /// <exception cref="SafetensorsException">The file is missing, empty or not a JSON object.</exception>
    public static JsonObject ReadObject(string path, string missingHint)
    {
        if (!File.Exists(path))
        {
            throw new SafetensorsException(path, null, $"does not exist ({missingHint})");
        }
        try
        {
            return JsonNode.Parse(File.ReadAllText(path))?.AsObject() ?? throw new SafetensorsException(path, null, "is empty");
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException)
        {
            throw new SafetensorsException(path, null, $"is not a JSON object ({ex.Message})");
        }
    }
}
